//===- GenerateGradients.cpp - moa-generate-gradients ---------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "passes/Gradient.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAGENERATEGRADIENTS
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

bool isFloatTensorType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

LogicalResult generateGradient(func::FuncOp func, SymbolTable &symbols,
                               FloatType lowPrecision) {
  std::string name = (func.getSymName() + "_grad").str();
  if (symbols.lookup(name))
    return func.emitError()
           << "moa-generate-gradients: '@" << name << "' exists already";
  FunctionType type = func.getFunctionType();
  SmallVector<Type> inputs(type.getInputs());
  for (Type result : type.getResults())
    if (isFloatTensorType(result))
      inputs.push_back(result);
  SmallVector<Type> outputs;
  for (Type input : type.getInputs())
    if (isFloatTensorType(input))
      outputs.push_back(input);

  FailureOr<func::FuncOp> source = decomposedCopy(func, lowPrecision);
  if (failed(source))
    return failure();
  OpBuilder b(func->getContext());
  b.setInsertionPointAfter(func);
  auto grad = func::FuncOp::create(b, func.getLoc(), name,
                                   b.getFunctionType(inputs, outputs));
  Block *entry = grad.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ValueRange arguments = entry->getArguments().take_front(type.getNumInputs());
  SmallVector<Value> seeds;
  unsigned next = type.getNumInputs();
  for (Type result : type.getResults())
    seeds.push_back(isFloatTensorType(result) ? entry->getArgument(next++)
                                              : Value());
  FailureOr<Gradient> gradient = emitGradient(b, *source, arguments, seeds);
  source->erase();
  if (failed(gradient)) {
    grad.erase();
    return failure();
  }
  SmallVector<Value> returned;
  for (Value g : gradient->argumentGradients)
    if (g)
      returned.push_back(g);
  func::ReturnOp::create(b, func.getLoc(), returned);
  symbols.insert(grad);
  return success();
}

struct MoAGenerateGradientsPass
    : public moa::impl::MoAGenerateGradientsBase<MoAGenerateGradientsPass> {
  using MoAGenerateGradientsBase::MoAGenerateGradientsBase;

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return initializeOptionsExplained(*this, options, errorHandler);
  }

  /// The gradient rules of the upstream ops are external models: the pass
  /// brings them, so that any context that runs it has them.
  void getDependentDialects(DialectRegistry &registry) const override {
    MoAGenerateGradientsBase::getDependentDialects(registry);
    registerGradientExternalModels(registry);
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> targets;
    if (functions.empty()) {
      for (auto func : module.getOps<func::FuncOp>())
        if (func.isPublic() && !func.isExternal())
          targets.push_back(func);
    } else {
      for (const std::string &name : functions) {
        auto func = symbols.lookup<func::FuncOp>(name);
        if (!func || func.isExternal()) {
          emitError(module.getLoc()) << "moa-generate-gradients: no function '@"
                                     << name << "' with a body";
          return signalPassFailure();
        }
        targets.push_back(func);
      }
    }
    FailureOr<FloatType> lowPrecision =
        parseMixedPrecision(module, mixedPrecision);
    if (failed(lowPrecision))
      return signalPassFailure();
    for (func::FuncOp func : targets)
      if (failed(generateGradient(func, symbols, *lowPrecision)))
        return signalPassFailure();
  }
};

} // namespace
