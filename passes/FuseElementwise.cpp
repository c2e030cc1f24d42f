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

/// Whether `op` and `other` (the producer of one of op's operands, or a
/// user of its result) would fuse.
bool fusesWith(linalg::LinalgOp op, Operation *other) {
  auto linalgOther = dyn_cast_or_null<linalg::LinalgOp>(other);
  return linalgOther && !isa<linalg::FillOp>(other) &&
         isIdentityElementwise(op) && isIdentityElementwise(linalgOther);
}

/// A named elementwise op (linalg.add, linalg.copy, ...) that would fuse
/// with a neighbour, as linalg.generic; one that would not keeps its name
/// (the runtime's messages name it).
struct GeneralizeElementwise : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (isa<linalg::GenericOp, linalg::FillOp>(op) ||
        !op.hasPureTensorSemantics())
      return failure();
    auto fuses = [&](Operation *other) { return fusesWith(op, other); };
    if (llvm::none_of(op.getDpsInputs(),
                      [&](Value in) { return fuses(in.getDefiningOp()); }) &&
        llvm::none_of(op->getUsers(), fuses))
      return failure();
    return linalg::generalizeNamedOp(rewriter, op);
  }
};

struct MoAFuseElementwise
    : moa::impl::MoAFuseElementwiseBase<MoAFuseElementwise> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GeneralizeElementwise>(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(
        patterns, [](OpOperand *operand) {
          auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
          return consumer &&
                 fusesWith(consumer, operand->get().getDefiningOp());
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
