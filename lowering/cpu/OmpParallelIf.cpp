//===- OmpParallelIf.cpp - Fork a team only for more than one iteration ---===//
//
// An omp.parallel around a worksharing loop of one iteration (one tile of
// rows, one sequence of a decoding step) gets `if(false)` at run time: the
// loop runs on the calling thread instead of waking the team.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAOMPPARALLELIF
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// The loop nest of the one worksharing loop in `parallel`, or null.
omp::LoopNestOp onlyLoop(omp::ParallelOp parallel) {
  omp::LoopNestOp nest;
  int loops = 0;
  parallel.getRegion().walk([&](omp::LoopNestOp loop) {
    nest = loop;
    ++loops;
  });
  if (loops != 1)
    return nullptr;
  for (Value bound : nest->getOperands())
    if (parallel->isAncestor(bound.getParentRegion()->getParentOp()))
      return nullptr; // computed inside the region
  return nest;
}

struct MoAOmpParallelIfPass
    : public mlir::moa::impl::MoAOmpParallelIfBase<MoAOmpParallelIfPass> {
  void runOnOperation() override {
    getOperation().walk([](omp::ParallelOp parallel) {
      omp::LoopNestOp nest =
          parallel.getIfExpr() ? nullptr : onlyLoop(parallel);
      if (!nest)
        return;
      ImplicitLocOpBuilder b(parallel.getLoc(), parallel);
      Value iterations = arith::ConstantIndexOp::create(b, 1);
      for (auto [lb, ub, step] :
           llvm::zip(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(),
                     nest.getLoopSteps())) {
        Value span = arith::SubIOp::create(b, ub, lb);
        Value count = arith::CeilDivSIOp::create(b, span, step);
        iterations = arith::MulIOp::create(b, iterations, count);
      }
      Value one = arith::ConstantOp::create(
          b, b.getIntegerAttr(iterations.getType(), 1));
      parallel.getIfExprMutable().assign(
          arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, iterations, one));
    });
  }
};

} // namespace
