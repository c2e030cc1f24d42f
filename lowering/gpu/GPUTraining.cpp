//===- GPUTraining.cpp - moa's training ops as GPU kernels ----------------===//
//
// Part of moa-lower-to-gpu: the backward of the model ops and the
// optimizer. moa.layer_norm_grad is a warp per row for the input's gradient
// (saving each row's mean and 1/std), then a thread per column summing
// gamma's and beta's gradients over the rows in order; moa.embedding_grad a
// thread per gradient element adding into its table row (f32 atomics);
// moa.global_norm a deterministic sum per tensor, then one total;
// moa.adamw a thread per element, the schedule and the clipping computed
// from the step and norm scalars where they live, on the device.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;
using ::moa::runtime::FailureCode;

namespace {

/// `shaped` (rank >= 1) as [rows, last dimension]; its sizes in `rows`, `d`.
Value asRows(TensorBoundary &tb, Value buffer, Value &rows, Value &d) {
  auto type = cast<MemRefType>(buffer.getType());
  const int64_t rank = type.getRank();
  rows = tb.e.idx(1);
  for (int64_t i = 0; i + 1 < rank; ++i)
    rows = tb.e.mul(rows, tb.dim(buffer, i));
  d = tb.dim(buffer, rank - 1);
  ReassociationIndices outer;
  for (int64_t i = 0; i + 1 < rank; ++i)
    outer.push_back(i);
  if (rank == 1)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc,
        MemRefType::get({1, type.getDimSize(0)}, type.getElementType()), buffer,
        ArrayRef<ReassociationIndices>{{0, 1}},
        ArrayRef<OpFoldResult>{tb.e.b.getIndexAttr(1), d});
  return tb.collapse(buffer, {outer, {rank - 1}});
}

/// `shaped` flattened to one dimension, and its number of elements.
Value flat(TensorBoundary &tb, Value buffer, Value &count) {
  auto type = cast<MemRefType>(buffer.getType());
  count = tb.e.idx(1);
  for (int64_t i = 0; i < type.getRank(); ++i)
    count = tb.e.mul(count, tb.dim(buffer, i));
  if (type.getRank() == 0)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc, MemRefType::get({1}, type.getElementType()), buffer,
        ArrayRef<ReassociationIndices>{}, ArrayRef<OpFoldResult>{});
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return tb.collapse(buffer, {all});
}

/// A new f32 device buffer of `like`'s sizes.
Value deviceLike(TensorBoundary &tb, Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < cast<ShapedType>(like.getType()).getRank(); ++i)
    sizes.push_back(tb.dim(like, i));
  return deviceAlloc(tb.e, tb.e.b.getF32Type(), sizes);
}

struct LowerLayerNormGrad : OpRewritePattern<LayerNormGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormGradOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getInput().getType().getRank() < 1)
      return rewriter.notifyMatchFailure(op, "a 0-d input");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value rows, d, unusedRows, unusedD;
    Value x = asRows(tb, tb.buffer(op.getInput()), rows, d);
    Value dy = asRows(tb, tb.buffer(op.getResultGrad()), unusedRows, unusedD);
    Value ok = tb.agree(
        {{tb.dim(op.getGamma(), 0), d}, {unusedRows, rows}, {unusedD, d}});
    Value gamma = tb.buffer(op.getGamma());
    Value inputGrad = deviceLike(tb, op.getInput());
    Value dx = asRows(tb, inputGrad, unusedRows, unusedD);
    Value moments = deviceAlloc(e, e.b.getF32Type(), {rows, e.idx(2)});
    Value epsilon = e.f32(op.getEpsilon().convertToFloat());
    launch(e, "moa_layer_norm_grad", atLeastOne(e, rows), e.idx(1), kWarp, {},
           [&](Emitter &kernel, const Kernel &k, ValueRange) {
             whenShapesAgree(kernel, k, ok, err, [&](Emitter &g) {
               g.ifThen(g.cmp(arith::CmpIPredicate::ult, k.bidX, rows),
                        [&](Emitter &z) {
                          rowGrad(z, k, x, dy, gamma, dx, moments, d, epsilon);
                        });
             });
           });
    Value gammaGrad = deviceAlloc(e, e.b.getF32Type(), {d});
    Value betaGrad = deviceAlloc(e, e.b.getF32Type(), {d});
    forEachElement(e, "moa_layer_norm_param_grad", d, [&](Emitter &z, Value c) {
      SmallVector<Value> sums =
          z.loop(z.idx(0), rows, {z.f32(0), z.f32(0)},
                 [&](Emitter &w, Value r, ValueRange acc) {
                   Value xhat = w.mulf(w.subf(w.load(x, {r, c}),
                                              w.load(moments, {r, w.idx(0)})),
                                       w.load(moments, {r, w.idx(1)}));
                   Value g = w.load(dy, {r, c});
                   return SmallVector<Value>{w.addf(acc[0], w.mulf(g, xhat)),
                                             w.addf(acc[1], g)};
                 });
      z.store(sums[0], gammaGrad, {c});
      z.store(sums[1], betaGrad, {c});
    });
    rewriter.replaceOp(op, {tb.result(inputGrad, op.getInputGrad().getType()),
                            tb.result(gammaGrad, op.getGammaGrad().getType()),
                            tb.result(betaGrad, op.getBetaGrad().getType())});
    return success();
  }

  /// Row k.bidX: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
  /// dxhat = dy gamma; the row's mean and rstd saved in `moments`.
  static void rowGrad(Emitter &z, const Kernel &k, Value x, Value dy,
                      Value gamma, Value dx, Value moments, Value d,
                      Value epsilon) {
    Value r = k.bidX;
    auto rowSum = [&](function_ref<Value(Emitter &, Value)> term) {
      return warpSum(z, z.stridedLoop(k.lane, d, z.idx(kWarp), {z.f32(0)},
                                      [&](Emitter &w, Value c, ValueRange acc) {
                                        return SmallVector<Value>{
                                            w.addf(acc[0], term(w, c))};
                                      })[0]);
    };
    Value n = arith::UIToFPOp::create(
        z.b, z.loc, z.b.getF32Type(),
        arith::IndexCastOp::create(z.b, z.loc, z.b.getI64Type(), d));
    auto value = [&](Emitter &w, Value c) { return w.load(x, {r, c}); };
    Value mean = z.divf(rowSum(value), n);
    Value variance = z.divf(rowSum([&](Emitter &w, Value c) {
                              Value centred = w.subf(w.load(x, {r, c}), mean);
                              return w.mulf(centred, centred);
                            }),
                            n);
    Value rstd = z.divf(z.f32(1), z.sqrt(z.addf(variance, epsilon)));
    auto xhat = [&](Emitter &w, Value c) {
      return w.mulf(w.subf(w.load(x, {r, c}), mean), rstd);
    };
    auto dxhat = [&](Emitter &w, Value c) {
      return w.mulf(w.load(dy, {r, c}), w.load(gamma, {c}));
    };
    Value meanG = z.divf(rowSum(dxhat), n);
    Value meanGX = z.divf(rowSum([&](Emitter &w, Value c) {
                            return w.mulf(dxhat(w, c), xhat(w, c));
                          }),
                          n);
    z.stridedLoop(k.lane, d, z.idx(kWarp), [&](Emitter &w, Value c) {
      Value v = w.subf(w.subf(dxhat(w, c), meanG), w.mulf(xhat(w, c), meanGX));
      w.store(w.mulf(rstd, v), dx, {r, c});
    });
    z.ifThen(isZero(z, k.lane), [&](Emitter &w) {
      w.store(mean, moments, {r, w.idx(0)});
      w.store(rstd, moments, {r, w.idx(1)});
    });
  }
};

struct LowerEmbeddingGrad : OpRewritePattern<EmbeddingGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    tb.nameOperands(
        {{op.getIndices(), "indices"}, {op.getResultGrad(), "result_grad"}});
    Value batch = tb.dim(op.getIndices(), 0);
    Value length = tb.dim(op.getIndices(), 1);
    Value vocab = tb.dim(op.getTable(), 0), d = tb.dim(op.getTable(), 1);
    Value rows = tb.checkedCount({{tb.dim(op.getResultGrad(), 0), batch},
                                  {tb.dim(op.getResultGrad(), 1), length},
                                  {tb.dim(op.getResultGrad(), 2), d}},
                                 e.mul(batch, length));
    Value ids = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}});
    Value dy = tb.collapse(tb.buffer(op.getResultGrad()), {{0, 1}, {2}});
    checkRange(e, err, ids, rows, e.idx(0), vocab,
               FailureCode::IndexOutOfRange);
    Value result = deviceAlloc(e, e.b.getF32Type(), {vocab, d});
    deviceFill(e, result, e.f32(0));
    forEachElement(
        e, "moa_embedding_grad", e.mul(rows, d), [&](Emitter &x, Value i) {
          Value r = x.div(i, d);
          Value c = arith::RemUIOp::create(x.b, x.loc, i, d);
          Value id = x.toIndex(x.load(ids, {r}));
          Value valid = x.andI(x.cmp(arith::CmpIPredicate::sge, id, x.idx(0)),
                               x.cmp(arith::CmpIPredicate::slt, id, vocab));
          x.ifThen(valid, [&](Emitter &y) {
            memref::AtomicRMWOp::create(y.b, y.loc, arith::AtomicRMWKind::addf,
                                        y.load(dy, {r, c}), result,
                                        ValueRange{id, c});
          });
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// sqrt(sum of squares), each tensor's sum of squares in f64 by reduce,
/// then their total by one thread.
struct LowerGlobalNorm : OpRewritePattern<GlobalNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GlobalNormOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    SmallVector<Value> partials;
    for (Value input : op.getInputs()) {
      Value count;
      Value values = flat(tb, tb.buffer(input), count);
      partials.push_back(deviceTotals(e, "moa_sum_of_squares", count, 1,
                                      [&](Emitter &x, Value i) {
                                        Value v = x.extf(x.load(values, {i}));
                                        return SmallVector<Value>{x.mulf(v, v)};
                                      }));
    }
    Value norm = scalarBuffer(e);
    forEachElement(e, "moa_global_norm", e.idx(1), [&](Emitter &x, Value) {
      Value total = x.f64(0);
      for (Value partial : partials)
        total = x.addf(total, x.load(partial, {x.idx(0)}));
      x.store(x.truncf(x.sqrt(total)), norm, {});
    });
    rewriter.replaceOp(op, tb.result(norm, op.getType()));
    return success();
  }
};

/// A thread per element; each computes the step's learning rate, clipping
/// and bias corrections from the device scalars (a few flops), as the CPU
/// lowering does once per call.
struct LowerAdamW : OpRewritePattern<AdamWOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdamWOp op,
                                PatternRewriter &rewriter) const override {
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value count, others[3], sizes[3];
    Value param = flat(tb, tb.buffer(op.getParam()), count);
    Value grad = flat(tb, tb.buffer(op.getGrad()), sizes[0]);
    Value m = flat(tb, tb.buffer(op.getFirstMoment()), sizes[1]);
    Value v = flat(tb, tb.buffer(op.getSecondMoment()), sizes[2]);
    Value ok =
        tb.agree({{sizes[0], count}, {sizes[1], count}, {sizes[2], count}});
    Value step = tb.buffer(op.getStep()), norm = tb.buffer(op.getGradNorm());
    // In place on buffers (each element is read before it is written),
    // into fresh device buffers on tensors.
    SmallVector<Value, 3> updated;
    for (auto [i, operand] : llvm::enumerate(op.getUpdatedOperands())) {
      updated.push_back(op.getUpdated().empty()
                            ? tb.buffer(operand->get())
                            : deviceLike(tb, op.getParam()));
      Value unused;
      others[i] = flat(tb, updated.back(), unused);
    }
    forEachElement(e, "moa_adamw", count, [&](Emitter &x, Value i) {
      x.ifThen(
          ok,
          [&](Emitter &y) {
            update(y, op, i, y.extf(y.load(step, {})), y.extf(y.load(norm, {})),
                   err, param, grad, m, v, others);
          },
          [&](Emitter &y) {
            y.ifThen(isZero(y, i), [&](Emitter &z) {
              fail(z, err, FailureCode::ShapeMismatch);
            });
          });
    });
    tb.replaceOp(rewriter, updated);
    return success();
  }

  static void update(Emitter &x, AdamWOp op, Value i, Value step, Value norm,
                     Value err, Value param, Value grad, Value m, Value v,
                     Value out[3]) {
    auto attr = [&](FloatAttr a) { return x.f64(a.getValueAsDouble()); };
    // Step 0 (or NaN) would turn every parameter into NaN.
    x.ifThen(
        x.andI(isZero(x, i), x.cmpf(arith::CmpFPredicate::ULT, step, x.f64(1))),
        [&](Emitter &y) { fail(y, err, FailureCode::OptimizerStep); });
    Value lr = attr(op.getLrAttr());
    if (int64_t warmup = op.getWarmupSteps(); warmup > 0) {
      Value w = x.f64(double(warmup));
      Value decay = x.sqrt(x.divf(w, x.maxf(step, x.f64(1))));
      lr = x.mulf(
          lr, arith::MinimumFOp::create(x.b, x.loc, x.divf(step, w), decay));
    }
    Value clip = x.f64(1);
    if (double maxNorm = op.getMaxGradNormAttr().getValueAsDouble();
        maxNorm > 0)
      clip = arith::MinimumFOp::create(
          x.b, x.loc, x.f64(1),
          x.divf(x.f64(maxNorm), x.addf(norm, x.f64(1e-6))));
    Value beta1 = attr(op.getBeta1Attr()), beta2 = attr(op.getBeta2Attr());
    auto correction = [&](Value beta) {
      return x.subf(x.f64(1), math::PowFOp::create(x.b, x.loc, beta, step));
    };
    Value decayFactor =
        x.truncf(x.subf(x.f64(1), x.mulf(lr, attr(op.getWeightDecayAttr()))));
    Value stepSize = x.truncf(x.divf(lr, correction(beta1)));
    Value rootCorrection2 = x.truncf(x.sqrt(correction(beta2)));
    Value g = x.mulf(x.load(grad, {i}), x.truncf(clip));
    Value mi = x.addf(x.mulf(x.truncf(beta1), x.load(m, {i})),
                      x.mulf(x.truncf(x.subf(x.f64(1), beta1)), g));
    Value vi = x.addf(x.mulf(x.truncf(beta2), x.load(v, {i})),
                      x.mulf(x.truncf(x.subf(x.f64(1), beta2)), x.mulf(g, g)));
    Value denom = x.addf(x.divf(x.sqrt(vi), rootCorrection2),
                         x.truncf(attr(op.getEpsilonAttr())));
    Value pi = x.subf(x.mulf(x.load(param, {i}), decayFactor),
                      x.mulf(stepSize, x.divf(mi, denom)));
    x.store(pi, out[0], {i});
    x.store(mi, out[1], {i});
    x.store(vi, out[2], {i});
  }
};

} // namespace

void gpu_kernels::populateGPUTrainingPatterns(RewritePatternSet &patterns) {
  patterns
      .add<LowerLayerNormGrad, LowerEmbeddingGrad, LowerGlobalNorm, LowerAdamW>(
          patterns.getContext());
}
