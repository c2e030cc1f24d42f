//===- ExpandBF16.cpp - bf16 conversions as integer arithmetic ------------===//

#include "lowering/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAEXPANDBF16
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// f32 -> bf16 to nearest, ties to even, a NaN quiet (0x7fc0): upstream's
/// expansion, but with a NaN replaced by the f32 quiet NaN before the
/// rounding (whose result for it is 0x7fc0) instead of a select on the
/// 16-bit result. LLVM turns that select into one on <N x bfloat>, which
/// x86 lowers a lane at a time; a select on <N x float> is one blend.
struct TruncFToBF16 : OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    Value in = op.getIn();
    if (!getElementTypeOrSelf(in).isF32() ||
        !getElementTypeOrSelf(op.getType()).isBF16() ||
        op.getRoundingmodeAttr())
      return rewriter.notifyMatchFailure(op, "not a default f32 to bf16");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Type i32 = b.getI32Type(), i16 = b.getI16Type();
    if (auto vector = dyn_cast<VectorType>(in.getType())) {
      i32 = vector.clone(i32);
      i16 = vector.clone(i16);
    }
    auto constant = [&](Type type, TypedAttr scalar) -> Value {
      if (auto vector = dyn_cast<VectorType>(type))
        scalar = DenseElementsAttr::get(vector, scalar);
      return arith::ConstantOp::create(b, type, scalar);
    };
    auto splat = [&](int64_t value) {
      return constant(i32, b.getI32IntegerAttr(value));
    };
    Value quietNan = constant(
        in.getType(), b.getFloatAttr(b.getF32Type(),
                                     APFloat::getQNaN(APFloat::IEEEsingle())));
    Value isNan = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, in, in);
    Value bits = arith::BitcastOp::create(
        b, i32, arith::SelectOp::create(b, isNan, quietNan, in));
    Value sixteen = splat(16);
    Value lowestKept = arith::AndIOp::create(
        b, arith::ShRUIOp::create(b, bits, sixteen), splat(1));
    Value rounded = arith::AddIOp::create(
        b, bits, arith::AddIOp::create(b, lowestKept, splat(0x7fff)));
    Value high = arith::TruncIOp::create(
        b, i16, arith::ShRUIOp::create(b, rounded, sixteen));
    rewriter.replaceOp(op, arith::BitcastOp::create(b, op.getType(), high));
    return success();
  }
};

struct MoAExpandBF16Pass
    : public mlir::moa::impl::MoAExpandBF16Base<MoAExpandBF16Pass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Upstream's extf expansion; truncf by the pattern above, preferred.
    arith::populateExpandBFloat16Patterns(patterns);
    patterns.add<TruncFToBF16>(&getContext(), /*benefit=*/2);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
