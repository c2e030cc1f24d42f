//===- ModelOps.cpp - Model ops to loops ----------------------------------===//
//
// moa.layer_norm, moa.embedding and moa.cross_entropy with their gradients:
// the model ops MLIR has no upstream op for.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

//===----------------------------------------------------------------------===//
// moa.layer_norm and moa.layer_norm_grad
//===----------------------------------------------------------------------===//

/// Mean and 1/sqrt(var + eps) of row r of a [rows, d] buffer (two passes).
std::pair<Value, Value> rowMoments(Emitter &e, Value x, Value r, Value d,
                                   Value epsilon) {
  Value n = e.truncf(e.indexToF64(d));
  Value mean =
      e.divf(e.loop(e.idx(0), d, {e.f32(0)},
                    [&](Emitter &y, Value c, ValueRange s) {
                      return SmallVector<Value>{y.sum(s[0], y.load(x, {r, c}))};
                    })[0],
             n);
  Value var =
      e.divf(e.loop(e.idx(0), d, {e.f32(0)},
                    [&](Emitter &y, Value c, ValueRange s) {
                      Value v = y.subf(y.load(x, {r, c}), mean);
                      return SmallVector<Value>{y.sum(s[0], y.mulf(v, v))};
                    })[0],
             n);
  Value rstd = math::RsqrtOp::create(e.b, e.loc, e.addf(var, epsilon));
  return {mean, rstd};
}

/// Checks gamma's (and `other`'s: beta [d], or the result gradient shaped
/// like the input) sizes against the input's; returns the row count.
Value layerNormRows(TensorBoundary &tb, Value input, Value gamma, Value other,
                    Value d) {
  Value rows = tb.e.idx(1);
  int64_t rank = cast<ShapedType>(input.getType()).getRank();
  const bool otherIsBeta = cast<ShapedType>(other.getType()).getRank() == 1;
  tb.nameOperands({{input, "input"},
                   {gamma, "gamma"},
                   {other, otherIsBeta ? "beta" : "result_grad"}});
  for (int64_t i = 0; i + 1 < rank; ++i)
    rows = tb.e.mul(rows, tb.dim(input, i));
  SmallVector<std::pair<Value, Value>> sizes = {{tb.dim(gamma, 0), d}};
  if (otherIsBeta)
    sizes.push_back({tb.dim(other, 0), d});
  else
    for (int64_t i = 0; i < rank; ++i)
      sizes.push_back({tb.dim(other, i), tb.dim(input, i)});
  return tb.checkedCount(sizes, rows);
}

struct LowerLayerNorm : OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    auto type = op.getInput().getType();
    Value d = tb.dim(op.getInput(), type.getRank() - 1);
    Value rows =
        layerNormRows(tb, op.getInput(), op.getGamma(), op.getBeta(), d);
    Value x = asRows(tb, tb.buffer(op.getInput()));
    Value gamma = tb.buffer(op.getGamma()), beta = tb.buffer(op.getBeta());
    Value result = allocLike(tb, op.getInput());
    Value y = asRows(tb, result);
    Value epsilon = e.f32(op.getEpsilon().convertToFloat());
    e.parallel(
        {rows},
        [&](Emitter &p, ValueRange ivs) {
          Value r = ivs[0];
          auto [mean, rstd] = rowMoments(p, x, r, d, epsilon);
          p.loop(p.idx(0), d,
                 [&, mean = mean, rstd = rstd](Emitter &z, Value c) {
                   Value v = z.mulf(z.subf(z.load(x, {r, c}), mean), rstd);
                   z.store(
                       z.addf(z.mulf(v, z.load(gamma, {c})), z.load(beta, {c})),
                       y, {r, c});
                 });
        },
        kSerialRows);
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with dxhat = dy
/// gamma, in parallel over rows; dgamma and dbeta are summed per chunk of
/// kRowChunk rows into partial buffers, then over chunks.
struct LowerLayerNormGrad : OpRewritePattern<LayerNormGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    auto type = op.getInput().getType();
    Value d = tb.dim(op.getInput(), type.getRank() - 1);
    Value rows =
        layerNormRows(tb, op.getInput(), op.getGamma(), op.getResultGrad(), d);
    Value x = asRows(tb, tb.buffer(op.getInput()));
    Value dy = asRows(tb, tb.buffer(op.getResultGrad()));
    Value gamma = tb.buffer(op.getGamma());
    Value inputGrad = allocLike(tb, op.getInput());
    Value dx = asRows(tb, inputGrad);
    Value gammaGrad = e.alloc(f32, {d}), betaGrad = e.alloc(f32, {d});
    Value epsilon = e.f32(op.getEpsilon().convertToFloat());
    Value chunk = e.idx(kRowChunk);
    Value chunks = e.ceilDiv(rows, chunk);
    Value partialGamma = e.alloc(f32, {chunks, d});
    Value partialBeta = e.alloc(f32, {chunks, d});
    Value n = e.truncf(e.indexToF64(d));
    e.parallel({chunks}, [&](Emitter &p, ValueRange ivs) {
      Value ci = ivs[0];
      p.loop(p.idx(0), d, [&](Emitter &z, Value c) {
        z.store(z.f32(0), partialGamma, {ci, c});
        z.store(z.f32(0), partialBeta, {ci, c});
      });
      Value first = p.mul(ci, chunk);
      p.loop(first, p.min(rows, p.add(first, chunk)), [&](Emitter &q, Value r) {
        auto [mean, rstd] = rowMoments(q, x, r, d, epsilon);
        auto xhat = [&, mean = mean, rstd = rstd](Emitter &z, Value c) {
          return z.mulf(z.subf(z.load(x, {r, c}), mean), rstd);
        };
        auto dxhat = [&](Emitter &z, Value c) {
          return z.mulf(z.load(dy, {r, c}), z.load(gamma, {c}));
        };
        SmallVector<Value> sums =
            q.loop(q.idx(0), d, {q.f32(0), q.f32(0)},
                   [&](Emitter &z, Value c, ValueRange s) {
                     Value g = dxhat(z, c);
                     return SmallVector<Value>{
                         z.sum(s[0], g), z.sum(s[1], z.mulf(g, xhat(z, c)))};
                   });
        Value meanG = q.divf(sums[0], n), meanGX = q.divf(sums[1], n);
        q.loop(q.idx(0), d, [&, rstd = rstd](Emitter &z, Value c) {
          Value xh = xhat(z, c);
          Value v = z.subf(z.subf(dxhat(z, c), meanG), z.mulf(xh, meanGX));
          z.store(z.mulf(rstd, v), dx, {r, c});
          Value g = z.load(dy, {r, c});
          z.store(z.addf(z.load(partialGamma, {ci, c}), z.mulf(g, xh)),
                  partialGamma, {ci, c});
          z.store(z.addf(z.load(partialBeta, {ci, c}), g), partialBeta,
                  {ci, c});
        });
      });
    });
    e.loop(e.idx(0), d, [&](Emitter &x2, Value c) {
      SmallVector<Value> s =
          x2.loop(x2.idx(0), chunks, {x2.f32(0), x2.f32(0)},
                  [&](Emitter &z, Value ci, ValueRange acc) {
                    return SmallVector<Value>{
                        z.addf(acc[0], z.load(partialGamma, {ci, c})),
                        z.addf(acc[1], z.load(partialBeta, {ci, c}))};
                  });
      x2.store(s[0], gammaGrad, {c});
      x2.store(s[1], betaGrad, {c});
    });
    rewriter.replaceOp(op, {tb.result(inputGrad, op.getInputGrad().getType()),
                            tb.result(gammaGrad, op.getGammaGrad().getType()),
                            tb.result(betaGrad, op.getBetaGrad().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.embedding and moa.embedding_grad
//===----------------------------------------------------------------------===//

struct LowerEmbedding : OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getIndices(), 0),
          length = tb.dim(op.getIndices(), 1);
    Value vocab = tb.dim(op.getTable(), 0), d = tb.dim(op.getTable(), 1);
    Value rows = e.mul(batch, length);
    Value ids = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}});
    Value table = tb.buffer(op.getTable());
    Value result = e.alloc(rewriter.getF32Type(), {batch, length, d});
    Value out = tb.collapse(result, {{0, 1}, {2}});
    fill(e, flatten(tb, result), e.mul(rows, d), e.f32(0));
    guardIndices(tb, ids, rows, e.idx(0), vocab, [&](Emitter &g) {
      g.parallel(
          {rows},
          [&](Emitter &p, ValueRange ivs) {
            Value id = p.toIndex(p.load(ids, {ivs[0]}));
            p.loop(p.idx(0), d, [&](Emitter &z, Value c) {
              z.store(z.load(table, {id, c}), out, {ivs[0], c});
            });
          },
          kSerialRows);
    });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

struct LowerEmbeddingGrad : OpRewritePattern<EmbeddingGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getIndices(), 0),
          length = tb.dim(op.getIndices(), 1);
    Value vocab = tb.dim(op.getTable(), 0), d = tb.dim(op.getTable(), 1);
    Value rows = tb.checkedCount({{tb.dim(op.getResultGrad(), 0), batch},
                                  {tb.dim(op.getResultGrad(), 1), length},
                                  {tb.dim(op.getResultGrad(), 2), d}},
                                 e.mul(batch, length));
    Value ids = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}});
    Value dOut = tb.collapse(tb.buffer(op.getResultGrad()), {{0, 1}, {2}});
    Value result = e.alloc(rewriter.getF32Type(), {vocab, d});
    fill(e, flatten(tb, result), e.mul(vocab, d), e.f32(0));
    // Serial: rows with the same id add into the same table row.
    guardIndices(tb, ids, rows, e.idx(0), vocab, [&](Emitter &g) {
      g.loop(g.idx(0), rows, [&](Emitter &x, Value r) {
        Value id = x.toIndex(x.load(ids, {r}));
        x.loop(x.idx(0), d, [&](Emitter &z, Value c) {
          z.store(z.addf(z.load(result, {id, c}), z.load(dOut, {r, c})), result,
                  {id, c});
        });
      });
    });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.cross_entropy and moa.cross_entropy_grad
//===----------------------------------------------------------------------===//

/// [rows, V] logits and [rows] targets with targets checked in [-1, V).
struct LabelledRows {
  Value logits, targets, rows, vocab, labelled;

  LabelledRows(TensorBoundary &tb, Value logitsTensor, Value targetsTensor) {
    Emitter &e = tb.e;
    tb.nameOperands({{logitsTensor, "logits"}, {targetsTensor, "targets"}});
    Value batch = tb.dim(logitsTensor, 0), length = tb.dim(logitsTensor, 1);
    vocab = tb.dim(logitsTensor, 2);
    rows = tb.checkedCount(
        {{tb.dim(targetsTensor, 0), batch}, {tb.dim(targetsTensor, 1), length}},
        e.mul(batch, length));
    logits = tb.collapse(tb.buffer(logitsTensor), {{0, 1}, {2}});
    targets = tb.collapse(tb.buffer(targetsTensor), {{0, 1}});
    labelled = e.loop(
        e.idx(0), rows, {e.f64(0)}, [&](Emitter &x, Value r, ValueRange acc) {
          Value t = x.toIndex(x.load(targets, {r}));
          return SmallVector<Value>{
              x.select(x.cmp(arith::CmpIPredicate::sge, t, x.idx(0)),
                       x.addf(acc[0], x.f64(1)), acc[0])};
        })[0];
  }

  /// Checks every target in [-1, V) (else reports TargetOutOfRange and runs
  /// nothing), then body(p, r, t) for each row r with target t in parallel,
  /// then `after` once.
  void forEachRow(TensorBoundary &tb,
                  function_ref<void(Emitter &, Value, Value)> body,
                  function_ref<void(Emitter &)> after = nullptr) const {
    guardIndices(
        tb, targets, rows, tb.e.idx(-1), vocab,
        [&](Emitter &g) {
          g.parallel({rows}, [&](Emitter &p, ValueRange ivs) {
            body(p, ivs[0], p.toIndex(p.load(targets, {ivs[0]})));
          });
          if (after)
            after(g);
        },
        FailureCode::TargetOutOfRange);
  }
};

struct LowerCrossEntropy : OpRewritePattern<CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LabelledRows in(tb, op.getLogits(), op.getTargets());
    Value perRow = e.alloc(rewriter.getF64Type(), {in.rows});
    Value loss = memref::AllocOp::create(
        rewriter, e.loc, MemRefType::get({}, rewriter.getF32Type()));
    e.store(e.f32(0), loss, {});
    in.forEachRow(
        tb,
        [&](Emitter &p, Value r, Value t) {
          p.store(p.f64(0), perRow, {r});
          // Only a labelled row is read (with V = 0 no row is).
          p.ifThen(
              p.cmp(arith::CmpIPredicate::sge, t, p.idx(0)), [&](Emitter &x) {
                auto [maximum, sum] = softmaxStats(x, in.logits, r, in.vocab);
                // -log p_t = lse - l_t, in f64 for the sum below.
                Value nll = x.subf(x.addf(x.extf(maximum), x.extf(x.log(sum))),
                                   x.extf(x.load(in.logits, {r, t})));
                x.store(nll, perRow, {r});
              });
        },
        [&](Emitter &g) {
          Value total = g.loop(g.idx(0), in.rows, {g.f64(0)},
                               [&](Emitter &x, Value r, ValueRange acc) {
                                 return SmallVector<Value>{
                                     x.addf(acc[0], x.load(perRow, {r}))};
                               })[0];
          g.store(g.truncf(g.divf(total, g.maxf(in.labelled, g.f64(1)))), loss,
                  {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

struct LowerCrossEntropyGrad : OpRewritePattern<CrossEntropyGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LabelledRows in(tb, op.getLogits(), op.getTargets());
    Value result = allocLike(tb, op.getLogits());
    Value out = tb.collapse(result, {{0, 1}, {2}});
    fill(e, flatten(tb, result), e.mul(in.rows, in.vocab), e.f32(0));
    Value factor = e.truncf(e.divf(e.extf(loadScalar(tb, op.getLossGrad())),
                                   e.maxf(in.labelled, e.f64(1))));
    in.forEachRow(tb, [&](Emitter &p, Value r, Value t) {
      p.ifThen(p.cmp(arith::CmpIPredicate::sge, t, p.idx(0)), [&](Emitter &x) {
        auto [maximum, sum] = softmaxStats(x, in.logits, r, in.vocab);
        x.loop(x.idx(0), in.vocab,
               [&, maximum = maximum, sum = sum](Emitter &z, Value i) {
                 Value prob = z.divf(
                     z.exp(z.subf(z.load(in.logits, {r, i}), maximum)), sum);
                 Value hot = z.select(z.cmp(arith::CmpIPredicate::eq, i, t),
                                      z.f32(1), z.f32(0));
                 z.store(z.mulf(factor, z.subf(prob, hot)), out, {r, i});
               });
      });
    });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

} // namespace

void mlir::moa::loops::populateModelOpLoopPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerLayerNorm, LowerLayerNormGrad, LowerEmbedding,
               LowerEmbeddingGrad, LowerCrossEntropy, LowerCrossEntropyGrad>(
      patterns.getContext());
}
