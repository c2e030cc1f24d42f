//===- ExpandBF16.cpp - bf16 conversions as integer arithmetic ------------===//

#include "lowering/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAEXPANDBF16
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

struct MoAExpandBF16Pass
    : public mlir::moa::impl::MoAExpandBF16Base<MoAExpandBF16Pass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    arith::populateExpandBFloat16Patterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
