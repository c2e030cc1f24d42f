//===- LowerToLoops.cpp - moa ops to loops on buffers (the pass) ----------===//
//
// Each moa op becomes scf/memref/arith/math code on buffers. The CPU
// pipeline runs it after One-Shot Bufferize, on moa ops in their buffer form
// (results replaced by the allocations the code writes); ops still on
// tensors cross with bufferization.to_buffer / to_tensor. The patterns live
// with their op family in this folder; the pipeline turns scf.parallel into
// OpenMP.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/Passes.h"
#include "lowering/cpu/LoopPatterns.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOALOWERTOLOOPS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

void mlir::moa::populateMoAToLoopsPatterns(RewritePatternSet &patterns) {
  loops::populatePrimitiveLoopPatterns(patterns);
  loops::populateAuxLossLoopPatterns(patterns);
  loops::populateBackwardLoopPatterns(patterns);
  loops::populateModelOpLoopPatterns(patterns);
  loops::populateOptimizerLoopPatterns(patterns);
  loops::populateDecodeLoopPatterns(patterns);
  loops::populateAssertLoopPatterns(patterns);
}

namespace {

struct MoALowerToLoopsPass
    : public mlir::moa::impl::MoALowerToLoopsBase<MoALowerToLoopsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    populateMoAToLoopsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();

    // Whatever moa op is left cannot run on the CPU: say which and why.
    WalkResult leftOver = getOperation()->walk([](Operation *op) {
      if (!isa<MoADialect>(op->getDialect()))
        return WalkResult::advance();
      if (isa<MixtureAttentionOp>(op))
        op->emitError("run moa-decompose before moa-lower-to-loops");
      else
        op->emitError("cannot lower to the CPU: index operands (indices, "
                      "permutation, offsets) must be i32");
      return WalkResult::interrupt();
    });
    if (leftOver.wasInterrupted())
      return signalPassFailure();

    // exp and log as polynomials: inline arithmetic that LLVM vectorises,
    // rather than libm calls.
    RewritePatternSet approximations(ctx);
    populateMathPolynomialApproximationPatterns(
        approximations, [](StringRef name) { return name == "math.exp"; });
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(approximations))))
      signalPassFailure();
  }
};

} // namespace
