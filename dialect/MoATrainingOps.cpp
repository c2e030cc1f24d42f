//===- MoATrainingOps.cpp - verifiers of the training ops -----------------===//
//
// Shapes are declared with named dimensions (ShapeChecks.h), as for the
// forward ops; AllTypesMatch in ODS already ties each gradient to its value.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "dialect/ShapeChecks.h"

using namespace mlir;
using namespace mlir::moa;

namespace {
/// Binds each (name, type, dims) in order; stops at the first mismatch.
LogicalResult
bindAll(ShapeBinder &shapes,
        std::initializer_list<std::tuple<StringRef, Type, ArrayRef<StringRef>>>
            operands) {
  for (auto [name, type, dims] : operands)
    if (failed(shapes.bind(name, type, dims)))
      return failure();
  return success();
}

} // namespace

LogicalResult RouteGradOp::verify() {
  ShapeBinder shapes(*this);
  if (failed(bindAll(
          shapes, {{"logits", getLogits().getType(), {"B", "T", "E"}},
                   {"indices", getIndices().getType(), {"B", "T", "k"}},
                   {"gates_grad", getGatesGrad().getType(), {"B", "T", "k"}}})))
    return failure();
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

LogicalResult GroupedMatmulGradOp::verify() {
  ShapeBinder shapes(*this);
  auto input = cast<ShapedType>(getInput().getType());
  if (failed(shapes.bind("input", input,
                         input.getRank() == 4
                             ? ArrayRef<StringRef>{"B", "T", "k", "K"}
                             : ArrayRef<StringRef>{"B", "T", "K"})) ||
      failed(shapes.bind("weight", getWeight().getType(), {"E", "K", "N"})))
    return failure();
  bool combine = bool(getGates());
  if (combine &&
      failed(shapes.bind("gates", getGates().getType(), {"B", "T", "k"})))
    return failure();
  if (failed(shapes.bind("result_grad", getResultGrad().getType(),
                         combine ? ArrayRef<StringRef>{"B", "T", "N"}
                                 : ArrayRef<StringRef>{"B", "T", "k", "N"})))
    return failure();
  int64_t experts = shapes.get("E");
  shapes.set("E+1", ShapedType::isDynamic(experts) ? experts : experts + 1);
  shapes.set("B*T*k", mulDims(mulDims(shapes.get("B"), shapes.get("T")),
                              shapes.get("k")));
  if (failed(
          shapes.bind("permutation", getPermutation().getType(), {"B*T*k"})) ||
      failed(shapes.bind("offsets", getOffsets().getType(), {"E+1"})))
    return failure();
  if (getGatesGrad().size() != (combine ? 1u : 0u))
    return emitOpError() << "must have " << (combine ? "one" : "no")
                         << " 'gates_grad' result "
                         << (combine ? "with" : "without") << " 'gates'";
  if (combine && getGatesGrad()[0].getType() != getGates().getType())
    return emitOpError("'gates_grad' must have the type of 'gates'");
  Type elementType = input.getElementType();
  if (failed(shapes.checkElementType("weight", getWeight().getType(),
                                     elementType,
                                     "the element type of 'input'")) ||
      failed(shapes.checkElementType("result_grad", getResultGrad().getType(),
                                     elementType,
                                     "the element type of 'input'")))
    return failure();
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

LogicalResult MultiQueryAttentionGradOp::verify() {
  if (failed(verifyAttentionOperands(*this, getQuery().getType(),
                                     getKey().getType(), getValue().getType(),
                                     getKeyPaddingMask(), getScale())))
    return failure();
  if (!getLse())
    return success();
  ShapeBinder shapes(*this);
  return failure(
      failed(
          shapes.bind("query", getQuery().getType(), {"B", "T", "k", "h"})) ||
      failed(shapes.bind("lse", getLse().getType(), {"B", "T", "k"})));
}

LogicalResult LoadBalancingLossGradOp::verify() {
  return verifyLoadBalancing(*this, getLogits().getType(),
                             getIndices().getType(), getQueryPaddingMask(),
                             getStatistics());
}

LogicalResult MutualInformationLossGradOp::verify() {
  return verifyRouterLogits(*this, getLogits().getType(),
                            getQueryPaddingMask());
}

LogicalResult ImportanceCVLossGradOp::verify() {
  return verifyImportanceCV(*this, getGates().getType(), getIndices().getType(),
                            getNumExperts());
}

LogicalResult RouterZLossGradOp::verify() {
  return verifyRouterLogits(*this, getLogits().getType(),
                            getQueryPaddingMask());
}

namespace {
/// input [..., d] with gamma [d].
LogicalResult verifyLayerNorm(Operation *op, Type input, Type gamma,
                              const APFloat &epsilon) {
  auto inputType = cast<ShapedType>(input);
  if (inputType.getRank() < 1)
    return op->emitOpError("'input' must have rank at least 1");
  ShapeBinder shapes(op);
  shapes.set("d", inputType.getShape().back());
  if (failed(shapes.bind("gamma", gamma, {"d"})))
    return failure();
  if (!(epsilon.isFiniteNonZero() && !epsilon.isNegative()))
    return op->emitOpError("'epsilon' must be a positive finite number");
  return success();
}
} // namespace

LogicalResult LayerNormOp::verify() {
  return verifyLayerNorm(*this, getInput().getType(), getGamma().getType(),
                         getEpsilonAttr().getValue());
}

LogicalResult LayerNormGradOp::verify() {
  return verifyLayerNorm(*this, getInput().getType(), getGamma().getType(),
                         getEpsilonAttr().getValue());
}

LogicalResult EmbeddingOp::verify() {
  ShapeBinder shapes(*this);
  return failure(
      failed(bindAll(shapes, {{"indices", getIndices().getType(), {"B", "T"}},
                              {"table", getTable().getType(), {"V", "d"}},
                              {"result", getType(), {"B", "T", "d"}}})));
}

LogicalResult EmbeddingGradOp::verify() {
  ShapeBinder shapes(*this);
  return failure(failed(bindAll(
      shapes, {{"indices", getIndices().getType(), {"B", "T"}},
               {"table", getTable().getType(), {"V", "d"}},
               {"result_grad", getResultGrad().getType(), {"B", "T", "d"}}})));
}

LogicalResult CrossEntropyOp::verify() {
  ShapeBinder shapes(*this);
  return failure(failed(
      bindAll(shapes, {{"logits", getLogits().getType(), {"B", "T", "V"}},
                       {"targets", getTargets().getType(), {"B", "T"}}})));
}

LogicalResult CrossEntropyGradOp::verify() {
  ShapeBinder shapes(*this);
  return failure(failed(
      bindAll(shapes, {{"logits", getLogits().getType(), {"B", "T", "V"}},
                       {"targets", getTargets().getType(), {"B", "T"}}})));
}

LogicalResult GlobalNormOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  return success();
}

LogicalResult AdamWOp::verify() {
  auto positive = [](const APFloat &v) {
    return v.isFiniteNonZero() && !v.isNegative();
  };
  auto inUnit = [](const APFloat &v) {
    double d = v.convertToDouble();
    return d >= 0.0 && d < 1.0;
  };
  if (!positive(getLrAttr().getValue()))
    return emitOpError("'lr' must be a positive finite number");
  if (!inUnit(getBeta1Attr().getValue()) || !inUnit(getBeta2Attr().getValue()))
    return emitOpError("'beta1' and 'beta2' must lie in [0, 1)");
  if (!positive(getEpsilonAttr().getValue()))
    return emitOpError("'epsilon' must be a positive finite number");
  double decay = getWeightDecayAttr().getValue().convertToDouble();
  double clip = getMaxGradNormAttr().getValue().convertToDouble();
  if (!(decay >= 0.0) || !std::isfinite(decay))
    return emitOpError("'weight_decay' must be a non-negative finite number");
  if (!(clip >= 0.0) || !std::isfinite(clip))
    return emitOpError("'max_grad_norm' must be non-negative and finite (0 "
                       "turns clipping off)");
  // I64Attr's accessor returns uint64_t: compare the signed value.
  if (getWarmupStepsAttr().getInt() < 0)
    return emitOpError("'warmup_steps' must be non-negative");
  // (On memrefs OneShapedForm already refused a tensor result.)
  if (isa<TensorType>(getParam().getType()) &&
      (getUpdated().size() != 3 ||
       llvm::any_of(getUpdated().getTypes(),
                    [&](Type t) { return t != getParam().getType(); })))
    return emitOpError("on tensors returns the new parameter and moments, "
                       "three results of the type of 'param'");
  return success();
}

void AdamWOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  static constexpr const char *kNames[] = {"new_param", "new_m", "new_v"};
  for (auto [result, name] : llvm::zip(getUpdated(), kNames))
    setNameFn(result, name);
}

void AdamWOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  if (!isa<MemRefType>(getParam().getType()))
    return;
  SmallVector<OpOperand *, 3> updated = getUpdatedOperands();
  for (OpOperand &operand : getOperation()->getOpOperands()) {
    effects.emplace_back(MemoryEffects::Read::get(), &operand,
                         SideEffects::DefaultResource::get());
    if (llvm::is_contained(updated, &operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

/// A 0-d f32 result, in the form of the operands.
static LogicalResult inferScalarF32(MLIRContext *ctx, ValueRange operands,
                                    SmallVectorImpl<Type> &inferred) {
  inferred.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return inBufferForm(operands, inferred);
}

LogicalResult
CrossEntropyOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                 Adaptor adaptor,
                                 SmallVectorImpl<Type> &inferred) {
  return inferScalarF32(ctx, adaptor.getOperands(), inferred);
}

LogicalResult GlobalNormOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location>,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  return inferScalarF32(ctx, adaptor.getOperands(), inferred);
}
