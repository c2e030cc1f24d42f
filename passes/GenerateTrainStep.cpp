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

constexpr StringLiteral kParamAttr = "moa.param";
constexpr StringLiteral kNameAttr = "moa.name";
constexpr StringLiteral kInitAttr = "moa.init";

struct MoAGenerateTrainStepPass
    : public moa::impl::MoAGenerateTrainStepBase<MoAGenerateTrainStepPass> {
  using MoAGenerateTrainStepBase::MoAGenerateTrainStepBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    auto func = symbols.lookup<func::FuncOp>(function);
    if (!func || func.isExternal()) {
      module.emitError() << "moa-generate-train-step: no function '@"
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

    // Parameters: arguments marked moa.param = "<name>" (f32 tensors).
    SmallVector<unsigned> params, data;
    SmallVector<StringRef> paramNames;
    // The names key the manifest and the checkpoints: they must be unique.
    llvm::StringMap<unsigned> argumentOf;
    for (unsigned i = 0; i < type.getNumInputs(); ++i) {
      Attribute marker = func.getArgAttr(i, kParamAttr);
      if (!marker) {
        data.push_back(i);
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
      params.push_back(i);
      paramNames.push_back(paramName.getValue());
    }
    if (params.empty())
      return func.emitError("moa-generate-train-step: no argument is marked "
                            "moa.param = \"<name>\"");

    // The names the step adds must stay unambiguous for the runtime.
    auto reserved = [](StringRef n) {
      return n == "step" || n == "grad_norm" || n.starts_with("p.") ||
             n.starts_with("m.") || n.starts_with("v.");
    };
    for (unsigned i : data)
      if (auto dataName = func.getArgAttrOfType<StringAttr>(i, kNameAttr);
          dataName && reserved(dataName.getValue()))
        return func.emitError()
               << "moa-generate-train-step: argument " << i << " is named '"
               << dataName.getValue()
               << "', a name the training step uses for its own arguments";
    for (unsigned r = 0; r < type.getNumResults(); ++r)
      if (auto resultName = func.getResultAttrOfType<StringAttr>(r, kNameAttr);
          resultName && reserved(resultName.getValue()))
        return func.emitError()
               << "moa-generate-train-step: result " << r << " is named '"
               << resultName.getValue()
               << "', a name the training step uses for its own results";

    // (params, m, v, step, data) -> (results, grad_norm, params, m, v).
    SmallVector<Type> inputs, outputs(type.getResults());
    for (int copy = 0; copy < 3; ++copy)
      for (unsigned i : params)
        inputs.push_back(type.getInput(i));
    inputs.push_back(scalar);
    for (unsigned i : data)
      inputs.push_back(type.getInput(i));
    outputs.push_back(scalar);
    for (int copy = 0; copy < 3; ++copy)
      for (unsigned i : params)
        outputs.push_back(type.getInput(i));

    FailureOr<func::FuncOp> source = decomposedCopy(func);
    if (failed(source))
      return failure();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(func);
    Location loc = func.getLoc();
    auto step =
        func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, outputs));
    Block *entry = step.addEntryBlock();
    const unsigned n = params.size();
    auto named = [&](StringRef prefix, StringRef base) {
      return b.getStringAttr((prefix + base).str());
    };
    for (unsigned j = 0; j < n; ++j) {
      step.setArgAttr(j, kNameAttr, named("p.", paramNames[j]));
      step.setArgAttr(n + j, kNameAttr, named("m.", paramNames[j]));
      step.setArgAttr(2 * n + j, kNameAttr, named("v.", paramNames[j]));
      if (Attribute init = func.getArgAttr(params[j], kInitAttr))
        step.setArgAttr(j, kInitAttr, init);
    }
    step.setArgAttr(3 * n, kNameAttr, b.getStringAttr("step"));
    for (auto [k, i] : llvm::enumerate(data))
      if (Attribute dataName = func.getArgAttr(i, kNameAttr))
        step.setArgAttr(3 * n + 1 + k, kNameAttr, dataName);
    const unsigned numResults = type.getNumResults();
    for (unsigned r = 0; r < numResults; ++r)
      if (Attribute resultName = func.getResultAttr(r, kNameAttr))
        step.setResultAttr(r, kNameAttr, resultName);
    step.setResultAttr(numResults, kNameAttr, b.getStringAttr("grad_norm"));
    for (unsigned j = 0; j < n; ++j) {
      step.setResultAttr(numResults + 1 + j, kNameAttr,
                         named("p.", paramNames[j]));
      step.setResultAttr(numResults + 1 + n + j, kNameAttr,
                         named("m.", paramNames[j]));
      step.setResultAttr(numResults + 1 + 2 * n + j, kNameAttr,
                         named("v.", paramNames[j]));
    }

    // The loss function's arguments in their original order.
    b.setInsertionPointToStart(entry);
    SmallVector<Value> arguments(type.getNumInputs());
    for (unsigned j = 0; j < n; ++j)
      arguments[params[j]] = entry->getArgument(j);
    for (auto [k, i] : llvm::enumerate(data))
      arguments[i] = entry->getArgument(3 * n + 1 + k);
    SmallVector<Value> seeds(numResults);
    seeds[0] = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(scalar, b.getF32FloatAttr(1.0f)));
    FailureOr<Gradient> gradient = emitGradient(b, *source, arguments, seeds);
    source->erase();
    if (failed(gradient)) {
      step.erase();
      return failure();
    }

    SmallVector<Value> grads;
    for (unsigned i : params)
      grads.push_back(gradient->argumentGradients[i]);
    Value norm = GlobalNormOp::create(b, loc, grads);
    Value stepNumber = entry->getArgument(3 * n);
    SmallVector<Value> newParams, newM, newV;
    for (unsigned j = 0; j < n; ++j) {
      auto update = AdamWOp::create(
          b, loc, entry->getArgument(j), grads[j], entry->getArgument(n + j),
          entry->getArgument(2 * n + j), stepNumber, norm,
          b.getF32FloatAttr(lr), b.getF32FloatAttr(beta1),
          b.getF32FloatAttr(beta2), b.getF32FloatAttr(epsilon),
          b.getF32FloatAttr(weightDecay), b.getI64IntegerAttr(warmupSteps),
          b.getF32FloatAttr(maxGradNorm));
      if (failed(update.verify())) {
        step.erase();
        return failure();
      }
      newParams.push_back(update.getNewParam());
      newM.push_back(update.getNewFirstMoment());
      newV.push_back(update.getNewSecondMoment());
    }
    SmallVector<Value> returned(gradient->results);
    returned.push_back(norm);
    llvm::append_range(returned, newParams);
    llvm::append_range(returned, newM);
    llvm::append_range(returned, newV);
    func::ReturnOp::create(b, loc, returned);
    symbols.insert(step);
    return success();
  }
};

} // namespace
