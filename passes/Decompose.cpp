//===- Decompose.cpp - moa.mixture_attention into primitives --------------===//

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
                    StringRef what) {
  int64_t d = cast<ShapedType>(x.getType()).getDimSize(2);
  int64_t size = cast<ShapedType>(value.getType()).getDimSize(2);
  if (!ShapedType::isDynamic(d) && !ShapedType::isDynamic(size))
    return;
  Value got = tensor::DimOp::create(rewriter, loc, value, 2);
  Value modelDim = tensor::DimOp::create(rewriter, loc, x, 2);
  Value same = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                     got, modelDim);
  cf::AssertOp::create(rewriter, loc, same,
                       ("moa.mixture_attention: dimension 2 of '" + what +
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
    if (failed(decomposeMixtureAttention(getOperation())))
      return signalPassFailure();
    // Not part of decomposeMixtureAttention: moa-generate-gradients names
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
    assertModelDim(rewriter, loc, op.getX(), memory, "memory");
  assertModelDim(rewriter, loc, op.getX(), op.getWOut(), "w_out");

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
                 op.getCausalAttr(), op.getScaleAttr());

  Value y = GroupedMatmulOp::create(rewriter, loc, xType, attention,
                                    op.getWOut(), dispatch.getPermutation(),
                                    dispatch.getOffsets(), route.getGates());
  return DecomposedLayer{y, logits};
}

LogicalResult mlir::moa::decomposeMixtureAttention(Operation *root) {
  RewritePatternSet patterns(root->getContext());
  patterns.add<DecomposeMixtureAttention>(root->getContext());
  if (failed(applyPatternsGreedily(root, std::move(patterns))))
    return failure();
  // A layer left over cannot be lowered further: say why.
  WalkResult leftOver = root->walk([](MixtureAttentionOp op) {
    op.emitError("cannot decompose: the number of experts (dimension 1 of "
                 "'w_gate') must be static");
    return WalkResult::interrupt();
  });
  return failure(leftOver.wasInterrupted());
}
