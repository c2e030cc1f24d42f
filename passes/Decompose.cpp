//===- Decompose.cpp - moa.mixture_attention into primitives --------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOADECOMPOSE
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// out[b, t, n] = sum_c in[b, t, c] * w[c, n], accumulated and returned in
/// `elementType` (linalg.contract casts its inputs to the accumulator type).
Value projectRows(OpBuilder &b, Location loc, Value in, Value w,
                  Type elementType) {
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, in, 0),
                                     tensor::getMixedSize(b, loc, in, 1),
                                     tensor::getMixedSize(b, loc, w, 1)};
  Value empty = tensor::EmptyOp::create(b, loc, sizes, elementType);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);

  MLIRContext *ctx = b.getContext();
  AffineExpr bt, t, n, c;
  bindDims(ctx, bt, t, n, c);
  auto map = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(4, 0, results, ctx);
  };
  ArrayAttr maps =
      b.getAffineMapArrayAttr({map({bt, t, c}), map({c, n}), map({bt, t, n})});
  return linalg::ContractOp::create(b, loc, TypeRange{init.getType()},
                                    ValueRange{in, w}, ValueRange{init}, maps)
      .getResult(0);
}

struct DecomposeMixtureAttention : public OpRewritePattern<MixtureAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MixtureAttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto gateType = cast<RankedTensorType>(op.getWGate().getType());
    int64_t experts = gateType.getDimSize(1);
    if (ShapedType::isDynamic(experts))
      return rewriter.notifyMatchFailure(op, "number of experts is dynamic");

    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getX().getType());
    Type elementType = xType.getElementType();
    Value memory = op.getMemory() ? op.getMemory() : op.getX();

    // Router in f32 whatever the activation type.
    Value logits = projectRows(rewriter, loc, op.getX(), op.getWGate(),
                               rewriter.getF32Type());
    auto route = RouteOp::create(rewriter, loc, logits,
                                 op.getQueryPaddingMask(), op.getKAttr(),
                                 op.getGatingAttr(), op.getRenormalizeAttr());
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
    Value value =
        projectRows(rewriter, loc, memory, op.getWValue(), elementType);
    Value attention = MultiQueryAttentionOp::create(
        rewriter, loc, query, key, value, op.getKeyPaddingMask(),
        op.getCausalAttr(), op.getScaleAttr());

    Value y = GroupedMatmulOp::create(rewriter, loc, xType, attention,
                                      op.getWOut(), dispatch.getPermutation(),
                                      dispatch.getOffsets(), route.getGates());
    rewriter.replaceOp(op, {y, logits});
    return success();
  }
};

struct MoADecomposePass : public moa::impl::MoADecomposeBase<MoADecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeMixtureAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // A layer left over cannot be lowered further: say why.
    WalkResult leftOver = getOperation()->walk([](MixtureAttentionOp op) {
      op.emitError("cannot decompose: the number of experts (dimension 1 of "
                   "'w_gate') must be static");
      return WalkResult::interrupt();
    });
    if (leftOver.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
