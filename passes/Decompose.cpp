//===- Decompose.cpp - Attention layers into primitives -------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOADECOMPOSE
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// Asserts at run time that dimension 2 of `value` (the memory [B, S, d] or
/// w_out [E, h, d]) equals x's model dimension d, where the types cannot
/// tell (the verifier checked static sizes); no op of the decomposition
/// compares them.
void assertModelDim(OpBuilder &rewriter, Location loc, Value x, Value value,
                    StringRef what, StringRef opName) {
  int64_t d = cast<ShapedType>(x.getType()).getDimSize(2);
  int64_t size = cast<ShapedType>(value.getType()).getDimSize(2);
  if (!ShapedType::isDynamic(d) && !ShapedType::isDynamic(size))
    return;
  Value got = tensor::DimOp::create(rewriter, loc, value, 2);
  Value modelDim = tensor::DimOp::create(rewriter, loc, x, 2);
  Value same = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                     got, modelDim);
  cf::AssertOp::create(rewriter, loc, same,
                       (opName + ": dimension 2 of '" + what +
                        "' differs from dimension 2 of 'x' (the model "
                        "dimension d)")
                           .str());
}

struct DecomposeMixtureAttention : public OpRewritePattern<MixtureAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MixtureAttentionOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<DecomposedLayer> layer = emitDecomposedLayer(rewriter, op);
    if (failed(layer))
      return rewriter.notifyMatchFailure(op, "number of experts is dynamic");
    rewriter.replaceOp(op, {layer->y, layer->routerLogits});
    return success();
  }
};

/// rows [B, T, H*h] -> [B*H, T, h]: each head a batch entry of its own.
Value foldHeads(OpBuilder &b, Location loc, Value rows, int64_t heads,
                int64_t width) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, rows);
  Value split = expandTensor(
      b, loc, rows, {{0}, {1}, {2, 3}},
      {sizes[0], sizes[1], b.getIndexAttr(heads), b.getIndexAttr(width)});
  Value perHead = transposeTensor(b, loc, split, {0, 2, 1, 3});
  return collapseTensor(b, loc, perHead, {{0, 1}, {2}, {3}});
}

/// The inverse of foldHeads: [B*H, T, h] -> [B, T, H*h], B from `like`.
Value unfoldHeads(OpBuilder &b, Location loc, Value folded, Value like,
                  int64_t heads) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, folded);
  OpFoldResult batch = tensor::getMixedSize(b, loc, like, 0);
  Value perHead =
      expandTensor(b, loc, folded, {{0, 1}, {2}, {3}},
                   {batch, b.getIndexAttr(heads), sizes[1], sizes[2]});
  Value perToken = transposeTensor(b, loc, perHead, {0, 2, 1, 3});
  return collapseTensor(b, loc, perToken, {{0}, {1}, {2, 3}});
}

/// The key padding mask [B, S] of every head: [B*H, S].
Value maskOfHeads(OpBuilder &b, Location loc, Value mask, int64_t heads) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, mask);
  Value init = tensor::EmptyOp::create(
      b, loc, {sizes[0], b.getIndexAttr(heads), sizes[1]}, b.getI1Type());
  Value perHead =
      linalg::BroadcastOp::create(b, loc, mask, init, ArrayRef<int64_t>{1})
          ->getResult(0);
  return collapseTensor(b, loc, perHead, {{0, 1}, {2}});
}

/// moa.multi_head_attention as row projections and one
/// moa.multi_query_attention over [B*H] sequences of one query slot: the
/// heads folded into the batch, the key padding mask broadcast to them.
struct DecomposeMultiHeadAttention
    : public OpRewritePattern<MultiHeadAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MultiHeadAttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto queryType = cast<RankedTensorType>(op.getWQuery().getType());
    int64_t heads = queryType.getDimSize(1), width = queryType.getDimSize(2);
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(width))
      return rewriter.notifyMatchFailure(op, "dynamic heads");
    Location loc = op.getLoc();
    StringRef name = op->getName().getStringRef();
    Value x = op.getX();
    Value memory = op.getMemory() ? op.getMemory() : x;
    if (op.getMemory())
      assertModelDim(rewriter, loc, x, memory, "memory", name);
    assertModelDim(rewriter, loc, x, op.getWOut(), "w_out", name);
    Type elementType = queryType.getElementType();

    // [d, H, h] -> [d, H*h]: one row projection for all heads.
    auto project = [&](Value in, Value weight) {
      Value matrix = collapseTensor(rewriter, loc, weight, {{0}, {1, 2}});
      return foldHeads(rewriter, loc,
                       projectRows(rewriter, loc, in, matrix, elementType),
                       heads, width);
    };
    Value query = project(x, op.getWQuery());
    SmallVector<OpFoldResult> querySizes =
        tensor::getMixedSizes(rewriter, loc, query);
    query = expandTensor(rewriter, loc, query, {{0}, {1}, {2, 3}},
                         {querySizes[0], querySizes[1],
                          rewriter.getIndexAttr(1), querySizes[2]});
    Value key = project(memory, op.getWKey());
    Value value = project(memory, op.getWValue());

    Value mask = op.getKeyPaddingMask();
    if (mask)
      mask = maskOfHeads(rewriter, loc, mask, heads);
    Value attention =
        MultiQueryAttentionOp::create(rewriter, loc, query, key, value, mask,
                                      op.getCausalAttr(), op.getScaleAttr(),
                                      /*with_lse=*/UnitAttr())
            .getResult();
    attention = collapseTensor(rewriter, loc, attention, {{0}, {1}, {2, 3}});
    Value rows = unfoldHeads(rewriter, loc, attention, x, heads);
    Value out = collapseTensor(rewriter, loc, op.getWOut(), {{0, 1}, {2}});
    rewriter.replaceOp(op, projectRows(rewriter, loc, rows, out, elementType));
    return success();
  }
};

/// An upstream linalg op defined as a composition of others (linalg.softmax:
/// max, sub, exp, sum, div) becomes those ops, which every lowering handles.
struct DecomposeAggregatedOp
    : public OpInterfaceRewritePattern<linalg::AggregatedOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(linalg::AggregatedOpInterface op,
                                PatternRewriter &rewriter) const override {
    FailureOr<SmallVector<Value>> values = op.decomposeOperation(rewriter);
    if (failed(values))
      return rewriter.notifyMatchFailure(op, "cannot decompose");
    rewriter.replaceOp(op, *values);
    return success();
  }
};

struct MoADecomposePass : public moa::impl::MoADecomposeBase<MoADecomposePass> {
  void runOnOperation() override {
    if (failed(decomposeAttentionLayers(getOperation())))
      return signalPassFailure();
    // Not part of decomposeAttentionLayers: moa-generate-gradients names
    // the upstream op it has no rule for, not its pieces.
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeAggregatedOp>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

FailureOr<DecomposedLayer>
mlir::moa::emitDecomposedLayer(OpBuilder &rewriter, MixtureAttentionOp op,
                               AttentionCoreBuilder core) {
  auto gateType = cast<RankedTensorType>(op.getWGate().getType());
  int64_t experts = gateType.getDimSize(1);
  if (ShapedType::isDynamic(experts))
    return failure();

  Location loc = op.getLoc();
  auto xType = cast<RankedTensorType>(op.getX().getType());
  Type elementType = xType.getElementType();
  Value memory = op.getMemory() ? op.getMemory() : op.getX();
  if (op.getMemory())
    assertModelDim(rewriter, loc, op.getX(), memory, "memory",
                   op->getName().getStringRef());
  assertModelDim(rewriter, loc, op.getX(), op.getWOut(), "w_out",
                 op->getName().getStringRef());

  // Router in f32 whatever the activation type.
  Value logits = projectRows(rewriter, loc, op.getX(), op.getWGate(),
                             rewriter.getF32Type());
  auto route = RouteOp::create(rewriter, loc, logits, op.getQueryPaddingMask(),
                               op.getKAttr(), op.getGatingAttr(),
                               op.getRenormalizeAttr());
  auto dispatch = DispatchOp::create(rewriter, loc, route.getIndices(),
                                     rewriter.getI64IntegerAttr(experts));

  int64_t k = op.getK();
  int64_t h = cast<RankedTensorType>(op.getWQuery().getType()).getDimSize(2);
  auto queryType = RankedTensorType::get(
      {xType.getDimSize(0), xType.getDimSize(1), k, h}, elementType);
  Value query = GroupedMatmulOp::create(
      rewriter, loc, queryType, op.getX(), op.getWQuery(),
      dispatch.getPermutation(), dispatch.getOffsets(), /*gates=*/Value());

  Value key = projectRows(rewriter, loc, memory, op.getWKey(), elementType);
  Value value = projectRows(rewriter, loc, memory, op.getWValue(), elementType);
  Value attention =
      core ? core(rewriter, loc, query, key, value)
           : MultiQueryAttentionOp::create(
                 rewriter, loc, query, key, value, op.getKeyPaddingMask(),
                 op.getCausalAttr(), op.getScaleAttr(), /*with_lse=*/UnitAttr())
                 .getResult();

  Value y = GroupedMatmulOp::create(rewriter, loc, xType, attention,
                                    op.getWOut(), dispatch.getPermutation(),
                                    dispatch.getOffsets(), route.getGates());
  return DecomposedLayer{y, logits};
}

LogicalResult mlir::moa::decomposeAttentionLayers(Operation *root) {
  RewritePatternSet patterns(root->getContext());
  patterns.add<DecomposeMixtureAttention, DecomposeMultiHeadAttention>(
      root->getContext());
  if (failed(applyPatternsGreedily(root, std::move(patterns))))
    return failure();
  // A layer left over cannot be lowered further: say why.
  WalkResult leftOver = root->walk([](Operation *op) {
    if (isa<MixtureAttentionOp>(op))
      op->emitError("cannot decompose: the number of experts (dimension 1 "
                    "of 'w_gate') must be static");
    else if (isa<MultiHeadAttentionOp>(op))
      op->emitError("cannot decompose: the number of heads and the head "
                    "size (dimensions 1 and 2 of 'w_query') must be static");
    else
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  return failure(leftOver.wasInterrupted());
}
