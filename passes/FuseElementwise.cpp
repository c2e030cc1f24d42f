//===- FuseElementwise.cpp - moa-fuse-elementwise -------------------------===//
//
// The adjoints of a mixed-precision gradient are chains of elementwise ops on
// one [B, T, d] shape: a cast to bf16 and back at each rounding point, then
// sums (linalg.add). Run one at a time, each is a pass over memory; fused,
// the chain reads its inputs once and writes one result. Upstream's
// elementwise fusion does that for linalg.generic, so the named elementwise
// ops that would fuse are generalized first.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/Passes.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAFUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// Whether `op` is elementwise over one iteration space that every operand
/// spans exactly (identity maps): what fuses without broadcasts or
/// transposes, and what the CPU lowering runs as parallel chunks.
bool isIdentityElementwise(linalg::LinalgOp op) {
  return linalg::isElementwise(op) &&
         llvm::all_of(op.getIndexingMapsArray(),
                      [](AffineMap map) { return map.isIdentity(); });
}

/// Whether the producer of `operand` fuses into its owner: both elementwise
/// with identity maps (not fills), in one block (not into a loop's body), the
/// operand an input of the owner and the producer's only use (fusing a
/// producer that has other uses would compute it once more per consumer).
bool fusible(OpOperand &operand) {
  auto consumer = dyn_cast<linalg::LinalgOp>(operand.getOwner());
  auto producer = operand.get().getDefiningOp<linalg::LinalgOp>();
  return consumer && producer &&
         !isa<linalg::FillOp>(consumer.getOperation()) &&
         !isa<linalg::FillOp>(producer.getOperation()) &&
         consumer.isDpsInput(&operand) && producer->hasOneUse() &&
         producer->getBlock() == consumer->getBlock() &&
         isIdentityElementwise(producer) && isIdentityElementwise(consumer);
}

/// A named elementwise op (linalg.add, linalg.copy, ...) that would fuse
/// with a neighbour, as linalg.generic; one that would not keeps its name
/// (the runtime's messages name it).
struct GeneralizeElementwise : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (isa<linalg::GenericOp>(op) || !op.hasPureTensorSemantics())
      return failure();
    bool withProducer = llvm::any_of(op->getOpOperands(), fusible);
    bool withConsumer = op->hasOneUse() && fusible(*op->getUses().begin());
    if (!withProducer && !withConsumer)
      return failure();
    return linalg::generalizeNamedOp(rewriter, op);
  }
};

/// A linalg.generic with the producer of one of its operands, where
/// `fusible` allows it (upstream's FuseElementwiseOps with that control,
/// without the other rewrites populateElementwiseOpsFusionPatterns adds).
struct FuseWithProducer : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    for (OpOperand &operand : consumer->getOpOperands()) {
      if (!fusible(operand) || !linalg::areElementwiseOpsFusable(&operand))
        continue;
      Operation *producer = operand.get().getDefiningOp();
      FailureOr<linalg::ElementwiseOpFusionResult> fused =
          linalg::fuseElementwiseOps(rewriter, &operand);
      if (failed(fused))
        return rewriter.notifyMatchFailure(consumer, "fusion failed");
      for (auto [original, replacement] : fused->replacements)
        rewriter.replaceAllUsesWith(original, replacement);
      rewriter.eraseOp(consumer);
      rewriter.eraseOp(producer); // its only use was the consumer
      return success();
    }
    return failure();
  }
};

struct MoAFuseElementwise
    : moa::impl::MoAFuseElementwiseBase<MoAFuseElementwise> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GeneralizeElementwise, FuseWithProducer>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
