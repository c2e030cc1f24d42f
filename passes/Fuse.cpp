//===- Fuse.cpp - moa-fuse: the decomposed layer into fused ops -----------===//
//
// Three rewrites, each visible in the IR that the CPU and GPU lowerings
// consume: the router projection and its moa.route become
// moa.project_route; the key and value projections of a
// moa.multi_query_attention become moa.key_value_projection; and a scatter
// moa.grouped_matmul reduced over its k slots with the gates becomes the
// grouped matmul's gate-weighted combine.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAFUSE
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// A row projection with a zero init: out = in w, nothing accumulated.
linalg::ContractOp plainProjection(Value result) {
  auto contract = result.getDefiningOp<linalg::ContractOp>();
  return isRowProjection(contract) && isZeroFill(contract.getOutputs()[0])
             ? contract
             : linalg::ContractOp();
}

/// Whether every value in `values` (null ones aside) is available at `op`.
bool allAvailableAt(ValueRange values, Operation *op) {
  DominanceInfo dominance;
  return llvm::all_of(values, [&](Value v) {
    return !v || dominance.properlyDominates(v, op);
  });
}

/// [B, T, N] for `input` [B, T, K] and `weight` [K, N], in `elementType`
/// (default: the input's): the types the fused ops infer.
Type projectionType(Value input, Value weight, Type elementType = {}) {
  auto in = cast<RankedTensorType>(input.getType());
  return RankedTensorType::get(
      {in.getDimSize(0), in.getDimSize(1),
       cast<RankedTensorType>(weight.getType()).getDimSize(1)},
      elementType ? elementType : in.getElementType());
}

/// route(x w_gate) -> project_route(x, w_gate), at the projection.
struct FuseProjectRoute : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp route,
                                PatternRewriter &rewriter) const override {
    linalg::ContractOp projection = plainProjection(route.getLogits());
    // Same block: the fused op runs where the projection did, so a route
    // under a condition or in a loop must stay there.
    if (!projection || projection->getBlock() != route->getBlock() ||
        !allAvailableAt(route.getQueryPaddingMask(), projection) ||
        !isa<FloatType>(cast<ShapedType>(projection.getInputs()[0].getType())
                            .getElementType()) ||
        route.getLogits().getType() !=
            projectionType(projection.getInputs()[0], projection.getInputs()[1],
                           Float32Type::get(getContext())))
      return rewriter.notifyMatchFailure(route, "no router projection");
    rewriter.setInsertionPoint(projection);
    auto fused = ProjectRouteOp::create(
        rewriter, route.getLoc(), projection.getInputs()[0],
        projection.getInputs()[1], route.getQueryPaddingMask(),
        route.getKAttr(), route.getGatingAttr(), route.getRenormalizeAttr());
    rewriter.replaceOp(projection, fused.getLogits());
    rewriter.replaceOp(route, {fused.getIndices(), fused.getGates()});
    return success();
  }
};

/// attention(q, m w_k, m w_v) -> key_value_projection(m, w_k, w_v), at the
/// earlier of the two projections: `keyRows` and `valueRows` are what the
/// attention `anchor` reads as its keys and values.
LogicalResult fuseKeyValueProjection(PatternRewriter &rewriter,
                                     Operation *anchor, Value keyRows,
                                     Value valueRows) {
  linalg::ContractOp key = plainProjection(keyRows);
  linalg::ContractOp value = plainProjection(valueRows);
  if (!key || !value || key == value || key->getBlock() != value->getBlock() ||
      key.getInputs()[0] != value.getInputs()[0] ||
      key.getInputs()[1].getType() != value.getInputs()[1].getType() ||
      key.getResultTypes() != value.getResultTypes() ||
      key.getResultTypes()[0] !=
          projectionType(key.getInputs()[0], key.getInputs()[1]))
    return rewriter.notifyMatchFailure(anchor, "no K/V projections");
  bool keyFirst = key->isBeforeInBlock(value);
  Operation *first = keyFirst ? key : value;
  if (!allAvailableAt(keyFirst ? value.getInputs() : key.getInputs(), first))
    return rewriter.notifyMatchFailure(anchor, "weights defined later");
  rewriter.setInsertionPoint(first);
  auto fused = KeyValueProjectionOp::create(
      rewriter, anchor->getLoc(), key.getInputs()[0], key.getInputs()[1],
      value.getInputs()[1]);
  rewriter.replaceOp(key, fused.getKey());
  rewriter.replaceOp(value, fused.getValue());
  return success();
}

struct FuseKeyValueProjection : OpRewritePattern<MultiQueryAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MultiQueryAttentionOp attention,
                                PatternRewriter &rewriter) const override {
    return fuseKeyValueProjection(rewriter, attention, attention.getKey(),
                                  attention.getValue());
  }
};

/// The same for a decoding step: the projections of the new token's key
/// and value, each written into its cache.
struct FuseCachedKeyValueProjection : OpRewritePattern<CachedAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CachedAttentionOp attention,
                                PatternRewriter &rewriter) const override {
    auto keys = attention.getKeyCache().getDefiningOp<CacheWriteOp>();
    auto values = attention.getValueCache().getDefiningOp<CacheWriteOp>();
    if (!keys || !values)
      return rewriter.notifyMatchFailure(attention, "caches not written here");
    return fuseKeyValueProjection(rewriter, attention, keys.getUpdate(),
                                  values.getUpdate());
  }
};

/// The type of `scatter`'s gate-weighted combine: [B, T, N] with B and T of
/// its input and N of its weight [E, K, N], in its element type.
Type combinedType(GroupedMatmulOp scatter) {
  auto input = cast<RankedTensorType>(scatter.getInput().getType());
  auto weight = cast<RankedTensorType>(scatter.getWeight().getType());
  return RankedTensorType::get(
      {input.getDimSize(0), input.getDimSize(1), weight.getDimSize(2)},
      scatter.getType().getElementType());
}

/// Indexing maps of y[b, t, n] = sum_j out[b, t, j, n] gates[b, t, j], over
/// loops (b, t, j, n).
SmallVector<AffineMap> gateCombineMaps(MLIRContext *ctx) {
  auto dims = [&](ArrayRef<unsigned> ds) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : ds)
      exprs.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(4, 0, exprs, ctx);
  };
  return {dims({0, 1, 2, 3}), dims({0, 1, 2}), dims({0, 1, 3})};
}

/// sum_j grouped_matmul(...)[b, t, j, :] gates[b, t, j] -> grouped_matmul
/// with gates(...), when the scatter result is used by nothing else.
struct FuseGateCombine : OpRewritePattern<linalg::ContractOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::ContractOp combine,
                                PatternRewriter &rewriter) const override {
    if (!combine.hasPureTensorSemantics() || combine.getInputs().size() != 2 ||
        combine.getIndexingMapsArray() !=
            ArrayRef<AffineMap>(gateCombineMaps(getContext())) ||
        !isZeroFill(combine.getOutputs()[0]))
      return rewriter.notifyMatchFailure(combine, "not a gate combine");
    auto scatter = combine.getInputs()[0].getDefiningOp<GroupedMatmulOp>();
    Value gates = combine.getInputs()[1];
    auto resultType = cast<RankedTensorType>(combine.getResultTypes()[0]);
    if (!scatter || scatter.getGates() || !scatter->hasOneUse() ||
        cast<ShapedType>(gates.getType()).getElementType() !=
            rewriter.getF32Type() ||
        resultType != combinedType(scatter) || !allAvailableAt(gates, scatter))
      return rewriter.notifyMatchFailure(combine, "no scatter to combine");
    rewriter.setInsertionPoint(scatter);
    Value fused = GroupedMatmulOp::create(
        rewriter, combine.getLoc(), resultType, scatter.getInput(),
        scatter.getWeight(), scatter.getPermutation(), scatter.getOffsets(),
        gates);
    rewriter.replaceOp(combine, fused);
    rewriter.eraseOp(scatter);
    return success();
  }
};

struct MoAFusePass : public moa::impl::MoAFuseBase<MoAFusePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseProjectRoute, FuseKeyValueProjection,
                 FuseCachedKeyValueProjection, FuseGateCombine>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
