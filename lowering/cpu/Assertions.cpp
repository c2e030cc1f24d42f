//===- Assertions.cpp - cf.assert as a runtime error ----------------------===//
//
// A cf.assert (e.g. a size check moa-decompose emits for sizes the verifier
// cannot see) becomes an error the runtime reports, with the assertion's
// message: upstream's lowering would abort the process.
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/LoopPatterns.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

struct LowerAssert : OpRewritePattern<cf::AssertOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(cf::AssertOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e(rewriter, op.getLoc());
    auto module = op->getParentOfType<ModuleOp>();
    e.ifThen(e.notI(op.getArg()),
             [&](Emitter &x) { x.failWith(module, op.getMsg()); });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void loops::populateAssertLoopPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerAssert>(patterns.getContext());
}
