//===- Optimizer.cpp - The optimizer to loops -----------------------------===//
//
// moa.global_norm and moa.adamw, in parallel over chunks of elements.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

//===----------------------------------------------------------------------===//
// moa.global_norm and moa.adamw
//===----------------------------------------------------------------------===//

struct LowerGlobalNorm : OpRewritePattern<GlobalNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GlobalNormOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value total = e.f64(0);
    for (Value input : op.getInputs()) {
      Value flat = flatten(tb, tb.buffer(input));
      total = e.loop(e.idx(0), numElements(tb, input), {total},
                     [&](Emitter &x, Value i, ValueRange acc) {
                       Value v = x.extf(x.load(flat, {i}));
                       return SmallVector<Value>{x.sum(acc[0], x.mulf(v, v))};
                     })[0];
    }
    Value norm = memref::AllocOp::create(
        rewriter, e.loc, MemRefType::get({}, rewriter.getF32Type()));
    e.store(e.truncf(e.sqrt(total)), norm, {});
    rewriter.replaceOp(op, tb.result(norm, op.getType()));
    return success();
  }
};

struct LowerAdamW : OpRewritePattern<AdamWOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdamWOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    auto attr = [&](FloatAttr a) { return e.f64(a.getValueAsDouble()); };
    Value step = e.extf(loadScalar(tb, op.getStep()));
    Value norm = e.extf(loadScalar(tb, op.getGradNorm()));
    // Step 0 (or NaN) would turn every parameter into NaN: fail instead
    // (the runtime reports it; the caller keeps its parameters).
    e.ifThen(
        e.cmpf(arith::CmpFPredicate::ULT, step, e.f64(1)),
        [&](Emitter &x) { x.fail(tb.module, FailureCode::OptimizerStep); });
    // The schedule, clipping and bias corrections: scalars, once per call.
    Value lr = attr(op.getLrAttr());
    if (int64_t warmup = op.getWarmupSteps(); warmup > 0) {
      Value w = e.f64(double(warmup));
      Value ramp = e.divf(step, w);
      Value decay = e.sqrt(e.divf(w, e.maxf(step, e.f64(1))));
      lr = e.mulf(lr, arith::MinimumFOp::create(rewriter, e.loc, ramp, decay));
    }
    Value clip = e.f64(1);
    if (double maxNorm = op.getMaxGradNormAttr().getValueAsDouble();
        maxNorm > 0)
      clip = arith::MinimumFOp::create(
          rewriter, e.loc, e.f64(1),
          e.divf(e.f64(maxNorm), e.addf(norm, e.f64(1e-6))));
    Value beta1 = attr(op.getBeta1Attr()), beta2 = attr(op.getBeta2Attr());
    Value correction1 =
        e.subf(e.f64(1), math::PowFOp::create(rewriter, e.loc, beta1, step));
    Value correction2 =
        e.subf(e.f64(1), math::PowFOp::create(rewriter, e.loc, beta2, step));
    Value decayFactor =
        e.truncf(e.subf(e.f64(1), e.mulf(lr, attr(op.getWeightDecayAttr()))));
    Value stepSize = e.truncf(e.divf(lr, correction1));
    Value rootCorrection2 = e.truncf(e.sqrt(correction2));
    Value b1 = e.truncf(beta1), b2 = e.truncf(beta2);
    Value c1 = e.truncf(e.subf(e.f64(1), beta1)),
          c2 = e.truncf(e.subf(e.f64(1), beta2));
    Value eps = e.truncf(attr(op.getEpsilonAttr()));
    Value clip32 = e.truncf(clip);

    Value count = numElements(tb, op.getParam());
    Value param = flatten(tb, tb.buffer(op.getParam()));
    Value grad = flatten(tb, tb.buffer(op.getGrad()));
    Value m = flatten(tb, tb.buffer(op.getFirstMoment()));
    Value v = flatten(tb, tb.buffer(op.getSecondMoment()));
    // In place on buffers (each element is read before it is written),
    // into fresh buffers on tensors.
    SmallVector<Value, 3> updated;
    for (OpOperand *operand : op.getUpdatedOperands())
      updated.push_back(op.getUpdated().empty() ? tb.buffer(operand->get())
                                                : allocLike(tb, op.getParam()));
    Value p1 = flatten(tb, updated[0]), m1 = flatten(tb, updated[1]),
          v1 = flatten(tb, updated[2]);
    SmallVector<std::pair<Value, Value>> sizes;
    for (Value other :
         {op.getGrad(), op.getFirstMoment(), op.getSecondMoment()})
      sizes.push_back({numElements(tb, other), count});
    count = tb.checkedCount(sizes, count);
    e.parallelElements(count, [&](Emitter &x, Value i) {
      Value g = x.mulf(x.load(grad, {i}), clip32);
      Value mi = x.addf(x.mulf(b1, x.load(m, {i})), x.mulf(c1, g));
      Value vi = x.addf(x.mulf(b2, x.load(v, {i})), x.mulf(c2, x.mulf(g, g)));
      Value denom = x.addf(x.divf(x.sqrt(vi), rootCorrection2), eps);
      Value pi = x.subf(x.mulf(x.load(param, {i}), decayFactor),
                        x.mulf(stepSize, x.divf(mi, denom)));
      x.store(pi, p1, {i});
      x.store(mi, m1, {i});
      x.store(vi, v1, {i});
    });
    tb.replaceOp(rewriter, updated);
    return success();
  }
};

} // namespace

void mlir::moa::loops::populateOptimizerLoopPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerGlobalNorm, LowerAdamW>(patterns.getContext());
}
