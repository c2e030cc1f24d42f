//===- MoAOps.cpp - moa op verifiers, type inference and costs ------------===//

#include "dialect/MoAOps.h"
#include "dialect/ShapeChecks.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"
#include <limits>

using namespace mlir;
using namespace mlir::moa;

#include "dialect/MoAInterfaces.cpp.inc"
#include "dialect/MoAOpsEnums.cpp.inc"

/// The 0-d f32 operand of the loss gradients and the optimizer is not
/// spelled in their text: it is memref<f32> when `like` (another operand
/// of the op) is a memref, as in the buffer form, else tensor<f32>.
static ParseResult parseScalarF32Like(OpAsmParser &parser, Type &scalar,
                                      Type like) {
  Type f32 = parser.getBuilder().getF32Type();
  scalar = isa<MemRefType>(like) ? Type(MemRefType::get({}, f32))
                                 : Type(RankedTensorType::get({}, f32));
  return success();
}
static void printScalarF32Like(OpAsmPrinter &, Operation *, Type, Type) {}

/// Neither are moa.adamw's results: three of the type of `param` on
/// tensors, none on memrefs (where it updates its operands).
static ParseResult parseUpdatedLike(OpAsmParser &, SmallVectorImpl<Type> &types,
                                    Type param) {
  if (isa<TensorType>(param))
    types.assign(3, param);
  return success();
}
static void printUpdatedLike(OpAsmPrinter &, Operation *, TypeRange, Type) {}

#define GET_OP_CLASSES
#include "dialect/MoAOps.cpp.inc"

namespace {
constexpr StringLiteral kQueryToken = "query token";
constexpr StringLiteral kKeyToken = "key token";
constexpr StringLiteral kPair = "query-key pair";
constexpr int64_t kMaxI32 = std::numeric_limits<int32_t>::max();

std::optional<int64_t> staticCount(int64_t size) {
  if (ShapedType::isDynamic(size))
    return std::nullopt;
  return size;
}

RankedTensorType f32Tensor(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, Float32Type::get(ctx));
}

/// `macs` per token of `unit` ("query token", "key token") for the B*T
/// tokens of `tokens` [B, T, ...], with `weights` the parameters read.
OpCost perTokenCost(StringRef unit, Type tokens, int64_t macs,
                    ArrayRef<Value> weights) {
  OpCost cost;
  cost.terms.push_back(
      {unit, macs,
       staticCount(mulDims(dimOrDynamic(tokens, 0), dimOrDynamic(tokens, 1)))});
  cost.weights.assign(weights.begin(), weights.end());
  return cost;
}

/// indices (i32) and gates (f32) [B, T, k] of a routing with sizes b and t;
/// `k` may be missing (inference runs before the verifier).
void inferRoutingTypes(MLIRContext *ctx, int64_t b, int64_t t, IntegerAttr k,
                       SmallVectorImpl<Type> &inferred) {
  SmallVector<int64_t> shape = {b, t, k ? k.getInt() : ShapedType::kDynamic};
  inferred.push_back(RankedTensorType::get(shape, IntegerType::get(ctx, 32)));
  inferred.push_back(f32Tensor(ctx, shape));
}
} // namespace

//===----------------------------------------------------------------------===//
// MixtureAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult
MixtureAttentionOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                     Adaptor adaptor,
                                     SmallVectorImpl<Type> &inferred) {
  Type x = adaptor.getX().getType();
  inferred.push_back(x);
  inferred.push_back(
      f32Tensor(ctx, {dimOrDynamic(x, 0), dimOrDynamic(x, 1),
                      dimOrDynamic(adaptor.getWGate().getType(), 1)}));
  return success();
}

/// Binds B, T, d from `x` and S from `memory` (or S = T for
/// self-attention), and checks the [B, S] key padding mask: the inputs the
/// attention layers share.
static LogicalResult bindLayerInputs(ShapeBinder &shapes, Value x, Value memory,
                                     Value keyPaddingMask) {
  if (failed(shapes.bind("x", x.getType(), {"B", "T", "d"})))
    return failure();
  if (memory) {
    if (failed(shapes.bind("memory", memory.getType(), {"B", "S", "d"})))
      return failure();
  } else {
    shapes.set("S", shapes.get("T"));
  }
  return success(!keyPaddingMask ||
                 succeeded(shapes.bind("key_padding_mask",
                                       keyPaddingMask.getType(), {"B", "S"})));
}

/// Checks that the memory (if any) and the four projection weights have the
/// element type of `x`.
static LogicalResult checkLikeX(ShapeBinder &shapes, Value x, Value memory,
                                Value wQuery, Value wKey, Value wValue,
                                Value wOut) {
  Type elementType = cast<ShapedType>(x.getType()).getElementType();
  for (auto [name, value] : {std::pair<StringRef, Value>{"memory", memory},
                             {"w_query", wQuery},
                             {"w_key", wKey},
                             {"w_value", wValue},
                             {"w_out", wOut}})
    if (value &&
        failed(shapes.checkElementType(name, value.getType(), elementType,
                                       "the element type of 'x'")))
      return failure();
  return success();
}

LogicalResult MixtureAttentionOp::verify() {
  ShapeBinder shapes(*this);
  if (failed(
          bindLayerInputs(shapes, getX(), getMemory(), getKeyPaddingMask())) ||
      failed(shapes.bind("w_gate", getWGate().getType(), {"d", "E"})) ||
      failed(shapes.bind("w_query", getWQuery().getType(), {"E", "d", "h"})) ||
      failed(shapes.bind("w_key", getWKey().getType(), {"d", "h"})) ||
      failed(shapes.bind("w_value", getWValue().getType(), {"d", "h"})) ||
      failed(shapes.bind("w_out", getWOut().getType(), {"E", "h", "d"})))
    return failure();
  if (getQueryPaddingMask() &&
      failed(shapes.bind("query_padding_mask", getQueryPaddingMask().getType(),
                         {"B", "T"})))
    return failure();
  if (failed(shapes.checkPositive({"d", "h"})))
    return failure();

  if (failed(checkLikeX(shapes, getX(), getMemory(), getWQuery(), getWKey(),
                        getWValue(), getWOut())))
    return failure();
  Type elementType = cast<ShapedType>(getX().getType()).getElementType();
  Type gateElement = cast<ShapedType>(getWGate().getType()).getElementType();
  if (!gateElement.isF32() && failed(shapes.checkElementType(
                                  "w_gate", getWGate().getType(), elementType,
                                  "the element type of 'x', or f32")))
    return failure();
  if (failed(shapes.checkTopK(getK())))
    return failure();
  return checkScale(*this, getScale());
}

OpCost MixtureAttentionOp::getCost() {
  int64_t b = dimOrDynamic(getX().getType(), 0);
  int64_t t = dimOrDynamic(getX().getType(), 1);
  int64_t s = getMemory() ? dimOrDynamic(getMemory().getType(), 1) : t;
  int64_t d = dimOrDynamic(getX().getType(), 2);
  int64_t e = dimOrDynamic(getWGate().getType(), 1);
  int64_t h = dimOrDynamic(getWKey().getType(), 1);
  int64_t k = getK();
  OpCost cost;
  // Router d*E, Q k*d*h and O k*h*d per query token; K and V 2*d*h per key
  // token; scores and weighted values 2*k*h per (query, key) pair.
  // Sizes may be dynamic (kDynamic): mulDims keeps them unknown.
  const int64_t router = mulDims(d, e);
  const int64_t projections = mulDims(2 * k, mulDims(d, h));
  const int64_t perQueryToken =
      ShapedType::isDynamic(router) || ShapedType::isDynamic(projections)
          ? ShapedType::kDynamic
          : router + projections;
  cost.terms.push_back(
      {kQueryToken, perQueryToken, staticCount(mulDims(b, t))});
  cost.terms.push_back(
      {kKeyToken, mulDims(2, mulDims(d, h)), staticCount(mulDims(b, s))});
  cost.terms.push_back(
      {kPair, mulDims(2 * k, h), staticCount(mulDims(mulDims(b, t), s))});
  cost.weights = {getWGate(), getWQuery(), getWKey(), getWValue(), getWOut()};
  return cost;
}

//===----------------------------------------------------------------------===//
// MultiHeadAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult
MultiHeadAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getX().getType());
  return success();
}

LogicalResult MultiHeadAttentionOp::verify() {
  ShapeBinder shapes(*this);
  if (failed(
          bindLayerInputs(shapes, getX(), getMemory(), getKeyPaddingMask())) ||
      failed(shapes.bind("w_query", getWQuery().getType(), {"d", "H", "h"})) ||
      failed(shapes.bind("w_key", getWKey().getType(), {"d", "H", "h"})) ||
      failed(shapes.bind("w_value", getWValue().getType(), {"d", "H", "h"})) ||
      failed(shapes.bind("w_out", getWOut().getType(), {"H", "h", "d"})) ||
      failed(shapes.checkPositive({"d", "H", "h"})))
    return failure();
  if (failed(checkLikeX(shapes, getX(), getMemory(), getWQuery(), getWKey(),
                        getWValue(), getWOut())))
    return failure();
  return checkScale(*this, getScale());
}

OpCost MultiHeadAttentionOp::getCost() {
  int64_t b = dimOrDynamic(getX().getType(), 0);
  int64_t t = dimOrDynamic(getX().getType(), 1);
  int64_t s = getMemory() ? dimOrDynamic(getMemory().getType(), 1) : t;
  int64_t d = dimOrDynamic(getX().getType(), 2);
  int64_t width = mulDims(dimOrDynamic(getWQuery().getType(), 1),
                          dimOrDynamic(getWQuery().getType(), 2));
  // Q and O 2*d*H*h per query token, K and V 2*d*H*h per key token, scores
  // and weighted values 2*H*h per (query, key) pair.
  OpCost cost;
  int64_t projections = mulDims(2, mulDims(d, width));
  cost.terms.push_back({kQueryToken, projections, staticCount(mulDims(b, t))});
  cost.terms.push_back({kKeyToken, projections, staticCount(mulDims(b, s))});
  cost.terms.push_back(
      {kPair, mulDims(2, width), staticCount(mulDims(mulDims(b, t), s))});
  cost.weights = {getWQuery(), getWKey(), getWValue(), getWOut()};
  return cost;
}

//===----------------------------------------------------------------------===//
// RouteOp
//===----------------------------------------------------------------------===//

LogicalResult RouteOp::inferReturnTypes(MLIRContext *ctx,
                                        std::optional<Location>,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  Type logits = adaptor.getLogits().getType();
  inferRoutingTypes(ctx, dimOrDynamic(logits, 0), dimOrDynamic(logits, 1),
                    adaptor.getKAttr(), inferred);
  return inBufferForm(adaptor.getOperands(), inferred);
}

/// The [B, T] query padding mask (if any) and 1 <= k <= E of a routing whose
/// B, T and E `shapes` has bound.
static LogicalResult verifyRouting(ShapeBinder &shapes, Value mask, int64_t k) {
  if (mask &&
      failed(shapes.bind("query_padding_mask", mask.getType(), {"B", "T"})))
    return failure();
  return shapes.checkTopK(k);
}

LogicalResult RouteOp::verify() {
  ShapeBinder shapes(*this);
  if (failed(shapes.bind("logits", getLogits().getType(), {"B", "T", "E"})))
    return failure();
  return verifyRouting(shapes, getQueryPaddingMask(), getK());
}

//===----------------------------------------------------------------------===//
// DispatchOp
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::inferReturnTypes(MLIRContext *ctx,
                                           std::optional<Location>,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &inferred) {
  Type indices = adaptor.getIndices().getType();
  int64_t pairs =
      mulDims(mulDims(dimOrDynamic(indices, 0), dimOrDynamic(indices, 1)),
              dimOrDynamic(indices, 2));
  Type i32 = IntegerType::get(ctx, 32);
  inferred.push_back(RankedTensorType::get({pairs}, i32));
  IntegerAttr experts = adaptor.getNumExpertsAttr();
  inferred.push_back(RankedTensorType::get(
      {experts && experts.getInt() < kMaxI32 ? experts.getInt() + 1
                                             : ShapedType::kDynamic},
      i32));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult DispatchOp::verify() {
  // permutation and offsets hold i32 pair ids and positions.
  if (getNumExperts() >= kMaxI32)
    return emitOpError() << "num_experts = " << getNumExperts()
                         << " must be less than " << kMaxI32;
  ShapeBinder shapes(*this);
  shapes.set("E", getNumExperts());
  if (failed(shapes.bind("indices", getIndices().getType(), {"B", "T", "k"})))
    return failure();
  ArrayRef<int64_t> shape = getIndices().getType().getShape();
  int64_t pairs = 1;
  for (int64_t size : shape)
    if (!ShapedType::isDynamic(size) &&
        (llvm::MulOverflow(pairs, size, pairs) || pairs > kMaxI32))
      return emitOpError() << "'indices' has more than " << kMaxI32
                           << " (token, slot) pairs, which i32 "
                              "'permutation' entries cannot address";
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

//===----------------------------------------------------------------------===//
// GroupedMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult GroupedMatmulOp::verify() {
  ShapeBinder shapes(*this);
  Type inputType = getInput().getType();
  auto input = cast<ShapedType>(inputType);
  if (input.getRank() == 4) {
    if (failed(shapes.bind("input", inputType, {"B", "T", "k", "K"})))
      return failure();
  } else if (failed(shapes.bind("input", inputType, {"B", "T", "K"}))) {
    return failure();
  }
  if (failed(shapes.bind("weight", getWeight().getType(), {"E", "K", "N"})))
    return failure();
  if (getGates()) {
    if (failed(shapes.bind("gates", getGates().getType(), {"B", "T", "k"})) ||
        failed(shapes.bind("result", getType(), {"B", "T", "N"})))
      return failure();
  } else if (failed(shapes.bind("result", getType(), {"B", "T", "k", "N"}))) {
    return failure();
  }
  shapes.set("B*T*k", mulDims(mulDims(shapes.get("B"), shapes.get("T")),
                              shapes.get("k")));
  int64_t experts = shapes.get("E");
  shapes.set("E+1", ShapedType::isDynamic(experts) ? experts : experts + 1);
  if (failed(
          shapes.bind("permutation", getPermutation().getType(), {"B*T*k"})) ||
      failed(shapes.bind("offsets", getOffsets().getType(), {"E+1"})))
    return failure();

  // The result's B, T and N come from the operands at run time: a static
  // size where the operand's is dynamic could not be honoured.
  ShapedType result = getType();
  auto weightType = cast<ShapedType>(getWeight().getType());
  for (auto [resultDim, source, sourceDim, name] :
       {std::tuple<int64_t, ShapedType, int64_t, StringRef>{0, input, 0, "B"},
        {1, input, 1, "T"},
        {result.getRank() - 1, weightType, 2, "N"}})
    if (result.isDynamicDim(resultDim) != source.isDynamicDim(sourceDim))
      return emitOpError() << "'result' dimension " << resultDim << " (" << name
                           << ") must be "
                           << (source.isDynamicDim(sourceDim) ? "dynamic"
                                                              : "static")
                           << " like the operand it comes from";

  Type elementType = input.getElementType();
  StringRef sameAsInput = "the element type of 'input'";
  if (failed(shapes.checkElementType("weight", getWeight().getType(),
                                     elementType, sameAsInput)) ||
      failed(shapes.checkElementType("result", getType(), elementType,
                                     sameAsInput)))
    return failure();
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

OpCost GroupedMatmulOp::getCost() {
  Type weight = getWeight().getType();
  // Slots per token: from the result when scattering, else from the gates.
  int64_t k = getGates() ? dimOrDynamic(getGates().getType(), 2)
                         : dimOrDynamic(getType(), 2);
  return perTokenCost(
      kQueryToken, getType(),
      mulDims(k, mulDims(dimOrDynamic(weight, 1), dimOrDynamic(weight, 2))),
      {getWeight()});
}

//===----------------------------------------------------------------------===//
// MultiQueryAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult
MultiQueryAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getQuery().getType());
  // The parser infers before it moves attr-dict's inherent attributes into
  // the properties: look in both.
  DictionaryAttr attributes = adaptor.getAttributes();
  if (adaptor.getWithLse() ||
      (attributes &&
       attributes.get(getWithLseAttrName(OperationName(
           getOperationName(), adaptor.getQuery().getContext()))))) {
    auto query = cast<ShapedType>(adaptor.getQuery().getType());
    if (!query.hasRank() || query.getRank() != 4)
      return failure(); // the verifier says what is wrong
    inferred.push_back(RankedTensorType::get(
        query.getShape().take_front(3), Float32Type::get(query.getContext())));
  }
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult MultiQueryAttentionOp::verify() {
  return verifyAttentionOperands(*this, getQuery().getType(),
                                 getKey().getType(), getValue().getType(),
                                 getKeyPaddingMask(), getScale());
}

/// 2 k h MACs per (query token, key) pair of query [B, T, k, h] and keys
/// [B, S, h].
static OpCost attentionPairCost(Type query, Type keys) {
  int64_t pairs =
      mulDims(mulDims(dimOrDynamic(query, 0), dimOrDynamic(query, 1)),
              dimOrDynamic(keys, 1));
  OpCost cost;
  cost.terms.push_back(
      {kPair,
       mulDims(2, mulDims(dimOrDynamic(query, 2), dimOrDynamic(query, 3))),
       staticCount(pairs)});
  return cost;
}

OpCost MultiQueryAttentionOp::getCost() {
  return attentionPairCost(getQuery().getType(), getKey().getType());
}

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

LogicalResult
LoadBalancingLossOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  inferred.push_back(f32Tensor(ctx, {}));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult LoadBalancingLossOp::verify() {
  return verifyLoadBalancing(*this, getLogits().getType(),
                             getIndices().getType(), getQueryPaddingMask(),
                             getStatistics());
}

LogicalResult
RoutingStatisticsOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  inferred.push_back(
      f32Tensor(ctx, {2, dimOrDynamic(adaptor.getLogits().getType(), 2)}));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult RoutingStatisticsOp::verify() {
  return verifyLoadBalancing(*this, getLogits().getType(),
                             getIndices().getType(), getQueryPaddingMask(),
                             getStatistics());
}

LogicalResult RouterZLossOp::inferReturnTypes(MLIRContext *ctx,
                                              std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &inferred) {
  inferred.push_back(f32Tensor(ctx, {}));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult RouterZLossOp::verify() {
  return verifyRouterLogits(*this, getLogits().getType(),
                            getQueryPaddingMask());
}

//===----------------------------------------------------------------------===//
// MutualInformationLossOp
//===----------------------------------------------------------------------===//

LogicalResult MutualInformationLossOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location>, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  inferred.push_back(f32Tensor(ctx, {}));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult MutualInformationLossOp::verify() {
  return verifyRouterLogits(*this, getLogits().getType(),
                            getQueryPaddingMask());
}

//===----------------------------------------------------------------------===//
// ImportanceCVLossOp
//===----------------------------------------------------------------------===//

LogicalResult
ImportanceCVLossOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                     Adaptor adaptor,
                                     SmallVectorImpl<Type> &inferred) {
  inferred.push_back(f32Tensor(ctx, {}));
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult ImportanceCVLossOp::verify() {
  return verifyImportanceCV(*this, getGates().getType(), getIndices().getType(),
                            getNumExperts());
}

//===----------------------------------------------------------------------===//
// ProjectRouteOp
//===----------------------------------------------------------------------===//

LogicalResult
ProjectRouteOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                 Adaptor adaptor,
                                 SmallVectorImpl<Type> &inferred) {
  Type x = adaptor.getX().getType();
  int64_t b = dimOrDynamic(x, 0), t = dimOrDynamic(x, 1);
  inferred.push_back(
      f32Tensor(ctx, {b, t, dimOrDynamic(adaptor.getWGate().getType(), 1)}));
  inferRoutingTypes(ctx, b, t, adaptor.getKAttr(), inferred);
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult ProjectRouteOp::verify() {
  ShapeBinder shapes(*this);
  if (failed(shapes.bind("x", getX().getType(), {"B", "T", "d"})) ||
      failed(shapes.bind("w_gate", getWGate().getType(), {"d", "E"})))
    return failure();
  return verifyRouting(shapes, getQueryPaddingMask(), getK());
}

OpCost ProjectRouteOp::getCost() {
  Type x = getX().getType();
  return perTokenCost(
      kQueryToken, x,
      mulDims(dimOrDynamic(x, 2), dimOrDynamic(getWGate().getType(), 1)),
      {getWGate()});
}

//===----------------------------------------------------------------------===//
// KeyValueProjectionOp
//===----------------------------------------------------------------------===//

LogicalResult
KeyValueProjectionOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  Type input = adaptor.getInput().getType();
  auto type =
      RankedTensorType::get({dimOrDynamic(input, 0), dimOrDynamic(input, 1),
                             dimOrDynamic(adaptor.getWKey().getType(), 1)},
                            cast<ShapedType>(input).getElementType());
  inferred.append({type, type});
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult KeyValueProjectionOp::verify() {
  ShapeBinder shapes(*this);
  return failure(
      failed(shapes.bind("input", getInput().getType(), {"B", "S", "d"})) ||
      failed(shapes.bind("w_key", getWKey().getType(), {"d", "h"})) ||
      failed(shapes.bind("w_value", getWValue().getType(), {"d", "h"})));
}

OpCost KeyValueProjectionOp::getCost() {
  Type input = getInput().getType();
  return perTokenCost(kKeyToken, input,
                      mulDims(2, mulDims(dimOrDynamic(input, 2),
                                         dimOrDynamic(getWKey().getType(), 1))),
                      {getWKey(), getWValue()});
}

//===----------------------------------------------------------------------===//
// Buffer forms
//===----------------------------------------------------------------------===//

void mlir::moa::getBufferFormEffects(
    Operation *op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : op->getOpOperands())
    if (isa<MemRefType>(operand.get().getType()))
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  for (OpResult result : op->getResults())
    if (isa<MemRefType>(result.getType())) {
      effects.emplace_back(MemoryEffects::Allocate::get(), result,
                           SideEffects::DefaultResource::get());
      effects.emplace_back(MemoryEffects::Write::get(), result,
                           SideEffects::DefaultResource::get());
    }
}

LogicalResult mlir::moa::verifyNoStrayAttributes(Operation *op) {
  for (NamedAttribute attr : op->getDiscardableAttrs()) {
    StringRef name = attr.getName().strref();
    if (name.contains('.'))
      continue; // another dialect's, e.g. moa.error_word or llvm.*
    InFlightDiagnostic diag = op->emitOpError("has no attribute '")
                              << name << "'";
    // The closest of the op's own names, if it is close.
    StringRef best;
    unsigned bestDistance = 3;
    for (StringAttr own : op->getName().getAttributeNames()) {
      unsigned distance = name.edit_distance(own.strref(), true, bestDistance);
      if (distance < bestDistance)
        best = own.strref(), bestDistance = distance;
    }
    if (!best.empty())
      diag << "; did you mean '" << best << "'?";
    else
      diag << " (its attributes: "
           << llvm::join(
                  llvm::map_range(op->getName().getAttributeNames(),
                                  [](StringAttr a) { return a.strref(); }),
                  ", ")
           << ")";
    return diag;
  }
  return success();
}

LogicalResult mlir::moa::verifyOneShapedForm(Operation *op) {
  auto isMemRef = [](Type type) { return isa<MemRefType>(type); };
  auto isTensor = [](Type type) { return isa<TensorType>(type); };
  bool memrefs = llvm::any_of(op->getOperandTypes(), isMemRef) ||
                 llvm::any_of(op->getResultTypes(), isMemRef);
  bool tensors = llvm::any_of(op->getOperandTypes(), isTensor) ||
                 llvm::any_of(op->getResultTypes(), isTensor);
  if (memrefs && tensors)
    return op->emitOpError("must have tensors or memrefs (its bufferized "
                           "form) as operands and results, not both");
  // The lowerings read buffers as contiguous rows.
  auto strided = [](Type type) {
    auto memref = dyn_cast<MemRefType>(type);
    return memref && !memref.getLayout().isIdentity();
  };
  if (llvm::any_of(op->getOperandTypes(), strided) ||
      llvm::any_of(op->getResultTypes(), strided))
    return op->emitOpError("buffers must have the identity layout (copy a "
                           "strided view into a fresh buffer first)");
  return success();
}

//===----------------------------------------------------------------------===//
// Incremental decoding: moa.cache_write, moa.cached_attention
//===----------------------------------------------------------------------===//

namespace {
/// New tokens [B, T, ...] must fit a cache of S rows, where both are known.
LogicalResult checkFitsCache(Operation *op, const ShapeBinder &shapes,
                             StringRef what) {
  int64_t t = shapes.get("T"), s = shapes.get("S");
  if (ShapedType::isDynamic(t) || ShapedType::isDynamic(s) || t <= s)
    return success();
  return op->emitOpError() << "'" << what << "' has T = " << t
                           << " tokens per sequence, more than the cache's "
                              "S = "
                           << s << " rows";
}
} // namespace

LogicalResult CacheWriteOp::verify() {
  if (failed(verifyOneShapedForm(*this)))
    return failure();
  ShapeBinder shapes(*this);
  if (failed(shapes.bind("update", getUpdate().getType(), {"B", "T", "h"})) ||
      failed(shapes.bind("offsets", getOffsets().getType(), {"B"})) ||
      failed(shapes.bind("cache", getCache().getType(), {"B", "S", "h"})) ||
      failed(shapes.checkPositive({"h"})) ||
      failed(shapes.checkElementType(
          "update", getUpdate().getType(),
          cast<ShapedType>(getCache().getType()).getElementType(),
          "the element type of 'cache'")))
    return failure();
  // (A result is a tensor: on memrefs OneShapedForm already refused one.)
  if (isa<TensorType>(getCache().getType()) && !getResult())
    return emitOpError("on tensors returns the updated cache");
  if (getResult() && getResult().getType() != getCache().getType())
    return emitOpError() << "result must have the type of 'cache' ("
                         << getCache().getType() << ")";
  return checkFitsCache(*this, shapes, "update");
}

void CacheWriteOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  if (!isa<MemRefType>(getCache().getType()))
    return;
  for (OpOperand *read : {&getUpdateMutable(), &getOffsetsMutable()})
    effects.emplace_back(MemoryEffects::Read::get(), read,
                         SideEffects::DefaultResource::get());
  effects.emplace_back(MemoryEffects::Write::get(), &getCacheMutable(),
                       SideEffects::DefaultResource::get());
}

LogicalResult
CachedAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                    Adaptor adaptor,
                                    SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getQuery().getType());
  return inBufferForm(adaptor.getOperands(), inferred);
}

LogicalResult CachedAttentionOp::verify() {
  ShapeBinder shapes(*this);
  Type query = getQuery().getType();
  if (failed(shapes.bind("query", query, {"B", "T", "k", "h"})) ||
      failed(
          shapes.bind("key_cache", getKeyCache().getType(), {"B", "S", "h"})) ||
      failed(shapes.bind("offsets", getOffsets().getType(), {"B"})) ||
      failed(shapes.checkPositive({"h"})) ||
      failed(shapes.checkElementType("key_cache", getKeyCache().getType(),
                                     cast<ShapedType>(query).getElementType(),
                                     "the element type of 'query'")) ||
      failed(checkScale(*this, getScale())))
    return failure();
  return checkFitsCache(*this, shapes, "query");
}

OpCost CachedAttentionOp::getCost() {
  // Every cache row counts: an upper bound, the rows past a token's
  // position are not read.
  return attentionPairCost(getQuery().getType(), getKeyCache().getType());
}
