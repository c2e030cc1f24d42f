//===- GenerateTrainStep.cpp - moa-generate-train-step --------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "passes/Gradient.h"
#include "passes/Passes.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAGENERATETRAINSTEP
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

struct MoAGenerateTrainStepPass
    : public moa::impl::MoAGenerateTrainStepBase<MoAGenerateTrainStepPass> {
  using MoAGenerateTrainStepBase::MoAGenerateTrainStepBase;

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return initializeOptionsExplained(*this, options, errorHandler);
  }

  /// The gradient rules of the upstream ops are external models: the pass
  /// brings them, so that any context that runs it has them.
  void getDependentDialects(DialectRegistry &registry) const override {
    MoAGenerateTrainStepBase::getDependentDialects(registry);
    registerGradientExternalModels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    auto func = symbols.lookup<func::FuncOp>(function);
    if (!func || func.isExternal()) {
      emitError(module.getLoc()) << "moa-generate-train-step: no function '@"
                                 << function << "' with a body";
      return signalPassFailure();
    }
    if (failed(generate(func, symbols)))
      signalPassFailure();
  }

  LogicalResult generate(func::FuncOp func, SymbolTable &symbols) {
    MLIRContext *ctx = func->getContext();
    FunctionType type = func.getFunctionType();
    auto scalar = RankedTensorType::get({}, Float32Type::get(ctx));
    if (type.getNumResults() == 0 || type.getResult(0) != scalar)
      return func.emitError("moa-generate-train-step: the first result must "
                            "be the loss, a tensor<f32>");
    std::string name = (func.getSymName() + "_train_step").str();
    if (symbols.lookup(name))
      return func.emitError()
             << "moa-generate-train-step: '@" << name << "' exists already";
    FailureOr<StepArguments> arguments = classifyArguments(func);
    if (failed(arguments) || failed(checkReservedNames(func, *arguments)))
      return failure();
    FailureOr<FloatType> lowPrecision =
        parseMixedPrecision(func, mixedPrecision);
    if (failed(lowPrecision))
      return failure();
    FailureOr<func::FuncOp> source = decomposedCopy(func, *lowPrecision);
    if (failed(source))
      return failure();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(func);
    func::FuncOp step = createStepFunction(b, func, name, *arguments);
    LogicalResult body = emitStepBody(step, func, *source, *arguments);
    source->erase();
    if (failed(body)) {
      step.erase();
      return failure();
    }
    symbols.insert(step);
    return success();
  }

  /// The loss function's arguments: parameters (marked moa.param) and data.
  struct StepArguments {
    SmallVector<unsigned> params, data;
    SmallVector<StringRef> paramNames;
  };

  /// Parameters are f32 tensors of static shape marked moa.param = "<name>"
  /// with unique names (they key the manifest and the checkpoints).
  static FailureOr<StepArguments> classifyArguments(func::FuncOp func) {
    FunctionType type = func.getFunctionType();
    StepArguments arguments;
    llvm::StringMap<unsigned> argumentOf;
    for (unsigned i = 0; i < type.getNumInputs(); ++i) {
      Attribute marker = func.getArgAttr(i, kParamAttrName);
      if (!marker) {
        arguments.data.push_back(i);
        continue;
      }
      auto paramName = dyn_cast<StringAttr>(marker);
      if (!paramName || paramName.getValue().empty())
        return func.emitError()
               << "moa-generate-train-step: argument " << i
               << ": 'moa.param' must name the parameter (a non-empty string)";
      auto tensor = dyn_cast<RankedTensorType>(type.getInput(i));
      if (!tensor || !tensor.getElementType().isF32() ||
          !tensor.hasStaticShape() || tensor.getRank() == 0)
        return func.emitError()
               << "moa-generate-train-step: parameter '" << paramName.getValue()
               << "' (argument " << i
               << ") must be an f32 tensor of static shape and rank >= 1";
      auto [previous, inserted] = argumentOf.try_emplace(paramName, i);
      if (!inserted)
        return func.emitError()
               << "moa-generate-train-step: parameter name '"
               << paramName.getValue() << "' is used by arguments "
               << previous->second << " and " << i;
      arguments.params.push_back(i);
      arguments.paramNames.push_back(paramName.getValue());
    }
    if (arguments.params.empty())
      return func.emitError("moa-generate-train-step: no argument is marked "
                            "moa.param = \"<name>\"");
    return arguments;
  }

  /// The names the step adds must stay unambiguous for the runtime.
  static LogicalResult checkReservedNames(func::FuncOp func,
                                          const StepArguments &arguments) {
    auto reserved = [](StringRef n) {
      return n == "step" || n == "grad_norm" || n.starts_with("p.") ||
             n.starts_with("m.") || n.starts_with("v.");
    };
    for (unsigned i : arguments.data)
      if (auto dataName = func.getArgAttrOfType<StringAttr>(i, kNameAttrName);
          dataName && reserved(dataName.getValue()))
        return func.emitError()
               << "moa-generate-train-step: argument " << i << " is named '"
               << dataName.getValue()
               << "', a name the training step uses for its own arguments";
    for (unsigned r = 0; r < func.getNumResults(); ++r)
      if (auto resultName =
              func.getResultAttrOfType<StringAttr>(r, kNameAttrName);
          resultName && reserved(resultName.getValue()))
        return func.emitError()
               << "moa-generate-train-step: result " << r << " is named '"
               << resultName.getValue()
               << "', a name the training step uses for its own results";
    return success();
  }

  /// The names of a parameter's copies among the step's arguments and
  /// results: the parameter, its first and its second moment.
  static constexpr StringLiteral kStatePrefixes[] = {"p.", "m.", "v."};

  /// @<name>(params, m, v, step, data) -> (results, grad_norm, params, m,
  /// v), its arguments and results named for the manifest, without a body.
  static func::FuncOp createStepFunction(OpBuilder &b, func::FuncOp func,
                                         StringRef name,
                                         const StepArguments &arguments) {
    FunctionType type = func.getFunctionType();
    auto scalar = RankedTensorType::get({}, b.getF32Type());
    SmallVector<Type> inputs, outputs(type.getResults());
    for (int copy = 0; copy < 3; ++copy)
      for (unsigned i : arguments.params) {
        inputs.push_back(type.getInput(i));
        outputs.push_back(type.getInput(i));
      }
    inputs.push_back(scalar);
    for (unsigned i : arguments.data)
      inputs.push_back(type.getInput(i));
    outputs.insert(outputs.begin() + type.getNumResults(), scalar);
    auto step = func::FuncOp::create(b, func.getLoc(), name,
                                     b.getFunctionType(inputs, outputs));
    step.addEntryBlock();

    const unsigned n = arguments.params.size();
    const unsigned numResults = type.getNumResults();
    auto named = [&](StringRef prefix, StringRef base) {
      return b.getStringAttr((prefix + base).str());
    };
    for (auto [j, paramName] : llvm::enumerate(arguments.paramNames)) {
      for (auto [copy, prefix] : llvm::enumerate(kStatePrefixes)) {
        step.setArgAttr(copy * n + j, kNameAttrName, named(prefix, paramName));
        unsigned result = numResults + 1 + copy * n + j;
        step.setResultAttr(result, kNameAttrName, named(prefix, paramName));
        // Updated in place: the caller donates its state (no second copy
        // of the model and its moments).
        step.setResultAttr(result, kTiedAttrName,
                           b.getI64IntegerAttr(copy * n + j));
      }
      if (Attribute init = func.getArgAttr(arguments.params[j], kInitAttrName))
        step.setArgAttr(j, kInitAttrName, init);
    }
    step.setArgAttr(3 * n, kNameAttrName, b.getStringAttr("step"));
    for (auto [k, i] : llvm::enumerate(arguments.data))
      if (Attribute dataName = func.getArgAttr(i, kNameAttrName))
        step.setArgAttr(3 * n + 1 + k, kNameAttrName, dataName);
    for (unsigned r = 0; r < numResults; ++r)
      if (Attribute resultName = func.getResultAttr(r, kNameAttrName))
        step.setResultAttr(r, kNameAttrName, resultName);
    step.setResultAttr(numResults, kNameAttrName, b.getStringAttr("grad_norm"));
    return step;
  }

  /// The body of `step`: the loss and its gradient (reverse mode over
  /// `source`, the decomposed loss function), the global norm, and AdamW.
  LogicalResult emitStepBody(func::FuncOp step, func::FuncOp func,
                             func::FuncOp source,
                             const StepArguments &arguments) const {
    Block *entry = &step.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    Location loc = func.getLoc();
    const unsigned n = arguments.params.size();
    // The loss function's arguments in their original order.
    SmallVector<Value> forward(func.getNumArguments());
    for (auto [j, i] : llvm::enumerate(arguments.params))
      forward[i] = entry->getArgument(j);
    for (auto [k, i] : llvm::enumerate(arguments.data))
      forward[i] = entry->getArgument(3 * n + 1 + k);
    SmallVector<Value> seeds(func.getNumResults());
    seeds[0] = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                               b.getF32FloatAttr(1.0f)));
    FailureOr<Gradient> gradient = emitGradient(b, source, forward, seeds);
    if (failed(gradient))
      return failure();

    SmallVector<Value> grads;
    for (unsigned i : arguments.params)
      grads.push_back(gradient->argumentGradients[i]);
    Value norm = GlobalNormOp::create(b, loc, grads);
    SmallVector<Value> returned(gradient->results);
    returned.push_back(norm);
    SmallVector<Value> updated[3]; // params, m, v
    for (unsigned j = 0; j < n; ++j) {
      Value param = entry->getArgument(j);
      auto update = AdamWOp::create(
          b, loc, SmallVector<Type>(3, param.getType()), param, grads[j],
          entry->getArgument(n + j), entry->getArgument(2 * n + j),
          entry->getArgument(3 * n), norm, b.getF32FloatAttr(lr),
          b.getF32FloatAttr(beta1), b.getF32FloatAttr(beta2),
          b.getF32FloatAttr(epsilon), b.getF32FloatAttr(weightDecay),
          b.getI64IntegerAttr(warmupSteps), b.getF32FloatAttr(maxGradNorm));
      if (failed(update.verify()))
        return failure();
      for (int k = 0; k < 3; ++k)
        updated[k].push_back(update.getUpdated()[k]);
    }
    for (auto &values : updated)
      llvm::append_range(returned, values);
    func::ReturnOp::create(b, loc, returned);
    return success();
  }
};

} // namespace
