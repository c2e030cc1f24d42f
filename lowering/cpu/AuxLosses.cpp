//===- AuxLosses.cpp - Auxiliary losses to loops --------------------------===//
//
// The router's auxiliary losses (load balancing, z, mutual information,
// importance CV) and their gradients, in f64 over tokens.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

/// Per non-padded token, body(token, lse) with lse the log-sum-exp of its
/// logits (f64); returns the number of such tokens.
Value forEachToken(
    TensorBoundary &tb, Value logits, Value mask, Value tokens, Value experts,
    ValueRange init,
    function_ref<SmallVector<Value>(Emitter &, Value, Value, ValueRange)> body,
    SmallVector<Value> &results) {
  Emitter &e = tb.e;
  Type f64 = e.b.getF64Type();
  SmallVector<Value> state(init);
  state.push_back(e.idx(0));
  SmallVector<Value> out =
      e.loop(e.idx(0), tokens, state, [&](Emitter &x, Value t, ValueRange acc) {
        auto compute = [&](Emitter &y) {
          auto logit = [&](Emitter &z, Value ex) -> Value {
            return arith::ExtFOp::create(z.b, z.loc, f64,
                                         z.load(logits, {t, ex}));
          };
          Value maximum =
              y.loop(y.idx(0), experts,
                     {arith::ConstantFloatOp::create(
                         y.b, y.loc, cast<FloatType>(f64),
                         APFloat(-std::numeric_limits<double>::infinity()))},
                     [&](Emitter &z, Value ex, ValueRange m) {
                       return SmallVector<Value>{arith::MaximumFOp::create(
                           z.b, z.loc, m[0], logit(z, ex))};
                     })[0];
          Value sum = y.loop(
              y.idx(0), experts,
              {arith::ConstantFloatOp::create(y.b, y.loc, cast<FloatType>(f64),
                                              APFloat(0.0))},
              [&](Emitter &z, Value ex, ValueRange s) {
                Value d =
                    arith::SubFOp::create(z.b, z.loc, logit(z, ex), maximum);
                return SmallVector<Value>{arith::AddFOp::create(
                    z.b, z.loc, s[0], math::ExpOp::create(z.b, z.loc, d))};
              })[0];
          Value lse = arith::AddFOp::create(
              y.b, y.loc, maximum, math::LogOp::create(y.b, y.loc, sum));
          SmallVector<Value> next = body(y, t, lse, acc.drop_back());
          next.push_back(y.add(acc.back(), y.idx(1)));
          return next;
        };
        if (!mask)
          return compute(x);
        auto ifOp = scf::IfOp::create(
            x.b, x.loc, x.load(mask, {t}),
            [&](OpBuilder &nb, Location nloc) {
              scf::YieldOp::create(nb, nloc, acc);
            },
            [&](OpBuilder &nb, Location nloc) {
              Emitter inner(nb, nloc);
              scf::YieldOp::create(nb, nloc, compute(inner));
            });
        return SmallVector<Value>(ifOp.getResults());
      });
  results.assign(out.begin(), out.end() - 1);
  return out.back();
}

/// Stores `value` (f64) into a fresh 0-d f32 buffer and returns it as the
/// op's result tensor.
Value scalarResult(TensorBoundary &tb, Value value, Type type) {
  Emitter &e = tb.e;
  auto memrefType = MemRefType::get({}, e.b.getF32Type());
  Value buffer = memref::AllocOp::create(e.b, e.loc, memrefType);
  e.store(arith::TruncFOp::create(e.b, e.loc, e.b.getF32Type(), value), buffer,
          {});
  return tb.result(buffer, type);
}

struct LowerRouterZLoss : OpRewritePattern<RouterZLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouterZLossOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LogitRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value tokens = in.tokens, experts = in.experts, logits = in.logits,
          mask = in.mask;
    SmallVector<Value> total;
    Value counted = forEachToken(
        tb, logits, mask, tokens, experts, {e.f64(0.0)},
        [&](Emitter &x, Value, Value lse, ValueRange acc) {
          Value square = arith::MulFOp::create(x.b, x.loc, lse, lse);
          return SmallVector<Value>{
              arith::AddFOp::create(x.b, x.loc, acc[0], square)};
        },
        total);
    Value mean =
        e.select(e.cmp(arith::CmpIPredicate::eq, counted, e.idx(0)), e.f64(0.0),
                 arith::DivFOp::create(rewriter, e.loc, total[0],
                                       e.indexToF64(counted)));
    rewriter.replaceOp(op, scalarResult(tb, mean, op.getType()));
    return success();
  }
};

/// H(E|T) - H(E) over the non-padded tokens, in f64: one pass for the
/// conditional entropy and the mean expert distribution p(e).
struct LowerMutualInformationLoss : OpRewritePattern<MutualInformationLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MutualInformationLossOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LogitRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value tokens = in.tokens, experts = in.experts, logits = in.logits,
          mask = in.mask;
    Value mean = e.alloc(rewriter.getF64Type(), {experts});
    e.loop(e.idx(0), experts,
           [&](Emitter &x, Value ex) { x.store(x.f64(0), mean, {ex}); });
    SmallVector<Value> entropy;
    Value counted = forEachToken(
        tb, logits, mask, tokens, experts, {e.f64(0)},
        [&](Emitter &x, Value t, Value lse, ValueRange acc) {
          return SmallVector<Value>{x.loop(
              x.idx(0), experts, {acc[0]},
              [&](Emitter &y, Value ex, ValueRange h) {
                Value logP = y.subf(y.extf(y.load(logits, {t, ex})), lse);
                Value p = y.exp(logP);
                y.store(y.addf(y.load(mean, {ex}), p), mean, {ex});
                return SmallVector<Value>{y.subf(h[0], y.mulf(p, logP))};
              })[0]};
        },
        entropy);
    Value n = e.maxf(e.indexToF64(counted), e.f64(1));
    Value marginal = e.loop(
        e.idx(0), experts, {e.f64(0)}, [&](Emitter &x, Value ex, ValueRange h) {
          Value p = x.divf(x.load(mean, {ex}), n);
          Value term = x.mulf(p, x.log(x.maxf(p, x.f64(1e-300))));
          return SmallVector<Value>{x.subf(h[0], term)};
        })[0];
    Value loss = e.subf(e.divf(entropy[0], n), marginal);
    loss = e.select(e.cmp(arith::CmpIPredicate::eq, counted, e.idx(0)),
                    e.f64(0), loss);
    rewriter.replaceOp(op, scalarResult(tb, loss, op.getType()));
    return success();
  }
};

/// The ops of the load-balancing loss (the loss, its statistics, its
/// gradient) read i32 indices [B, T, k] beside the logits [B, T, E]: the
/// checks they share; `lower` builds the result, checking `indexSizes`.
template <typename OpTy> struct LoadBalancingPattern : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  using Sizes = SmallVector<std::pair<Value, Value>, 2>;

  virtual Value lower(OpTy op, TensorBoundary &tb,
                      const Sizes &indexSizes) const = 0;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const final {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    TensorBoundary tb(rewriter, op);
    tb.nameOperands({{op.getIndices(), "indices"}});
    Sizes sizes = {{tb.dim(op.getIndices(), 0), tb.dim(op.getLogits(), 0)},
                   {tb.dim(op.getIndices(), 1), tb.dim(op.getLogits(), 1)}};
    rewriter.replaceOp(op, lower(op, tb, sizes));
    return success();
  }
};

/// P_e (summed softmax probability) and c_e (routed pairs) of
/// moa.load_balancing_loss as f64 buffers [E]: from `statisticsTensor`
/// [2, E] where given (a larger batch's), else over the non-padded tokens of
/// `in` routed by `indicesTensor` [B, T, k].
struct RoutingTotals {
  Value probability, count;
  /// sum_e P_e (the token count) and sum_e c_e.
  Value probabilitySum, countSum;
};

RoutingTotals routingTotals(TensorBoundary &tb, const LogitRows &in,
                            Value indicesTensor, Value statisticsTensor) {
  Emitter &e = tb.e;
  Type f64Type = e.b.getF64Type();
  RoutingTotals totals;
  totals.probability = e.alloc(f64Type, {in.experts});
  totals.count = e.alloc(f64Type, {in.experts});
  Value k = tb.dim(indicesTensor, 2);
  Value indices = tb.collapse(tb.buffer(indicesTensor), {{0, 1}, {2}});
  checkExpertIndices(tb, tb.collapse(indices, {{0, 1}}), e.mul(in.tokens, k),
                     in.experts);
  fill(e, totals.probability, in.experts, e.f64(0));
  fill(e, totals.count, in.experts, e.f64(0));
  if (statisticsTensor) {
    tb.nameOperands({{statisticsTensor, "statistics"}});
    Value experts = tb.checkedCount({{tb.dim(statisticsTensor, 0), e.idx(2)},
                                     {tb.dim(statisticsTensor, 1), in.experts}},
                                    in.experts);
    Value given = tb.buffer(statisticsTensor);
    e.loop(e.idx(0), experts, [&](Emitter &x, Value ex) {
      x.store(x.extf(x.load(given, {x.idx(0), ex})), totals.probability, {ex});
      x.store(x.extf(x.load(given, {x.idx(1), ex})), totals.count, {ex});
    });
  } else {
    SmallVector<Value> unused;
    forEachToken(
        tb, in.logits, in.mask, in.tokens, in.experts, {},
        [&](Emitter &x, Value t, Value lse, ValueRange) {
          x.loop(x.idx(0), in.experts, [&](Emitter &y, Value ex) {
            Value p = y.exp(y.subf(y.extf(y.load(in.logits, {t, ex})), lse));
            y.store(y.addf(y.load(totals.probability, {ex}), p),
                    totals.probability, {ex});
          });
          x.loop(x.idx(0), k, [&](Emitter &y, Value j) {
            Value ex = y.toIndex(y.load(indices, {t, j}));
            y.ifThen(inRange(y, ex, y.idx(0), in.experts), [&](Emitter &z) {
              z.store(z.addf(z.load(totals.count, {ex}), z.f64(1.0)),
                      totals.count, {ex});
            });
          });
          return SmallVector<Value>();
        },
        unused);
  }
  SmallVector<Value> sums =
      e.loop(e.idx(0), in.experts, {e.f64(0.0), e.f64(0.0)},
             [&](Emitter &x, Value ex, ValueRange acc) {
               return SmallVector<Value>{
                   x.addf(acc[0], x.load(totals.probability, {ex})),
                   x.addf(acc[1], x.load(totals.count, {ex}))};
             });
  totals.probabilitySum = sums[0];
  totals.countSum = sums[1];
  return totals;
}

/// Whether the load-balancing loss is zero by definition: no token counted.
Value noRoutedTokens(Emitter &e, const RoutingTotals &totals) {
  return e.orI(
      e.cmpf(arith::CmpFPredicate::OLE, totals.probabilitySum, e.f64(0.0)),
      e.cmpf(arith::CmpFPredicate::OLE, totals.countSum, e.f64(0.0)));
}

struct LowerLoadBalancingLoss : LoadBalancingPattern<LoadBalancingLossOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(LoadBalancingLossOp op, TensorBoundary &tb,
              const Sizes &indexSizes) const override {
    Emitter &e = tb.e;
    LogitRows in(tb, op.getLogits(), op.getQueryPaddingMask(), indexSizes);
    RoutingTotals totals =
        routingTotals(tb, in, op.getIndices(), op.getStatistics());
    Value dot =
        e.loop(e.idx(0), in.experts, {e.f64(0.0)},
               [&](Emitter &x, Value ex, ValueRange acc) {
                 Value p = x.divf(x.load(totals.probability, {ex}),
                                  totals.probabilitySum);
                 Value c = x.divf(x.load(totals.count, {ex}), totals.countSum);
                 return SmallVector<Value>{x.addf(acc[0], x.mulf(p, c))};
               })[0];
    Value loss = e.select(noRoutedTokens(e, totals), e.f64(0.0),
                          e.mulf(e.indexToF64(in.experts), dot));
    return scalarResult(tb, loss, op.getType());
  }
};

/// [2, E]: the P_e and c_e of routingTotals, as f32.
struct LowerRoutingStatistics : LoadBalancingPattern<RoutingStatisticsOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(RoutingStatisticsOp op, TensorBoundary &tb,
              const Sizes &indexSizes) const override {
    Emitter &e = tb.e;
    LogitRows in(tb, op.getLogits(), op.getQueryPaddingMask(), indexSizes);
    RoutingTotals totals = routingTotals(tb, in, op.getIndices(), Value());
    Value result = e.alloc(e.b.getF32Type(), {e.idx(2), in.experts});
    e.loop(e.idx(0), in.experts, [&](Emitter &x, Value ex) {
      x.store(x.truncf(x.load(totals.probability, {ex})), result,
              {x.idx(0), ex});
      x.store(x.truncf(x.load(totals.count, {ex})), result, {x.idx(1), ex});
    });
    return tb.result(result, op.getType());
  }
};

//===----------------------------------------------------------------------===//
// Auxiliary-loss gradients
//===----------------------------------------------------------------------===//

/// Shared by the aux-loss gradients: [tokens, E] logits and an optional
/// [tokens] padding mask; counts the non-padded tokens serially.
struct TokenRows : LogitRows {
  Value result, resultRows;

  TokenRows(TensorBoundary &tb, Value logitsTensor, Value maskTensor,
            ArrayRef<std::pair<Value, Value>> extraSizes = {})
      : LogitRows(tb, logitsTensor, maskTensor, extraSizes) {
    result = tb.e.alloc(tb.e.b.getF32Type(), {batch, length, experts});
    resultRows = tb.collapse(result, {{0, 1}, {2}});
  }

  /// The number of tokens not padded, as f64.
  Value counted(Emitter &e) const {
    return e.loop(
        e.idx(0), tokens, {e.f64(0)}, [&](Emitter &x, Value t, ValueRange acc) {
          return SmallVector<Value>{
              x.select(padded(x, t), acc[0], x.addf(acc[0], x.f64(1)))};
        })[0];
  }

  /// In parallel over tokens: zeros for padded ones, else
  /// body(token, maximum, sum) with the token's softmax statistics.
  void forEachToken(Emitter &e,
                    function_ref<void(Emitter &, Value, Value, Value)> body) {
    e.parallel({tokens}, [&](Emitter &p, ValueRange ivs) {
      Value t = ivs[0];
      p.ifThen(
          padded(p, t),
          [&](Emitter &x) {
            x.loop(x.idx(0), experts, [&](Emitter &y, Value i) {
              y.store(y.f32(0), resultRows, {t, i});
            });
          },
          [&](Emitter &x) {
            auto [maximum, sum] = softmaxStats(x, logits, t, experts);
            body(x, t, maximum, sum);
          });
    });
  }
};

struct LowerRouterZLossGrad : OpRewritePattern<RouterZLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouterZLossGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    TokenRows rows(tb, op.getLogits(), op.getQueryPaddingMask());
    Value count = rows.counted(e);
    // d/dl_i of mean_t lse_t^2 = 2 lse_t p_i / N.
    Value factor = e.truncf(
        e.divf(e.mulf(e.f64(2), e.extf(loadScalar(tb, op.getLossGrad()))),
               e.maxf(count, e.f64(1))));
    rows.forEachToken(e, [&](Emitter &x, Value t, Value maximum, Value sum) {
      Value lse = x.addf(maximum, x.log(sum));
      Value scale = x.mulf(factor, lse);
      x.loop(x.idx(0), rows.experts, [&](Emitter &y, Value i) {
        Value p =
            y.divf(y.exp(y.subf(y.load(rows.logits, {t, i}), maximum)), sum);
        y.store(y.mulf(scale, p), rows.resultRows, {t, i});
      });
    });
    rewriter.replaceOp(op, tb.result(rows.result, op.getType()));
    return success();
  }
};

/// g_e = (log p(e) - log p(e|t)) / N, then back through each token's
/// softmax: p(e|t) (g_e - sum_e' p(e'|t) g_e'). p(e) needs all tokens: a
/// serial pass first.
struct LowerMutualInformationLossGrad
    : OpRewritePattern<MutualInformationLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MutualInformationLossGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    TokenRows rows(tb, op.getLogits(), op.getQueryPaddingMask());
    Value logMean = e.alloc(rewriter.getF64Type(), {rows.experts});
    fill(e, logMean, rows.experts, e.f64(0));
    e.loop(e.idx(0), rows.tokens, [&](Emitter &x, Value t) {
      x.ifThen(x.notI(rows.padded(x, t)), [&](Emitter &y) {
        auto [maximum, sum] = softmaxStats(y, rows.logits, t, rows.experts);
        y.loop(
            y.idx(0), rows.experts,
            [&, maximum = maximum, sum = sum](Emitter &z, Value ex) {
              Value p = z.extf(z.divf(
                  z.exp(z.subf(z.load(rows.logits, {t, ex}), maximum)), sum));
              z.store(z.addf(z.load(logMean, {ex}), p), logMean, {ex});
            });
      });
    });
    Value count = rows.counted(e);
    Value n = e.maxf(count, e.f64(1));
    e.loop(e.idx(0), rows.experts, [&](Emitter &x, Value ex) {
      Value p = x.divf(x.load(logMean, {ex}), n);
      x.store(x.log(x.maxf(p, x.f64(1e-300))), logMean, {ex});
    });
    Value scale = e.divf(e.extf(loadScalar(tb, op.getLossGrad())), n);
    rows.forEachToken(e, [&](Emitter &x, Value t, Value maximum, Value sum) {
      Value lse = x.extf(x.addf(maximum, x.log(sum)));
      auto logP = [&](Emitter &y, Value ex) {
        return y.subf(y.extf(y.load(rows.logits, {t, ex})), lse);
      };
      auto g = [&](Emitter &y, Value ex) {
        return y.subf(y.load(logMean, {ex}), logP(y, ex));
      };
      Value c = x.loop(x.idx(0), rows.experts, {x.f64(0)},
                       [&](Emitter &y, Value ex, ValueRange acc) {
                         return SmallVector<Value>{y.addf(
                             acc[0], y.mulf(y.exp(logP(y, ex)), g(y, ex)))};
                       })[0];
      x.loop(x.idx(0), rows.experts, [&](Emitter &y, Value ex) {
        Value d =
            y.mulf(scale, y.mulf(y.exp(logP(y, ex)), y.subf(g(y, ex), c)));
        y.store(y.truncf(d), rows.resultRows, {t, ex});
      });
    });
    rewriter.replaceOp(op, tb.result(rows.result, op.getType()));
    return success();
  }
};

struct LowerLoadBalancingLossGrad
    : LoadBalancingPattern<LoadBalancingLossGradOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(LoadBalancingLossGradOp op, TensorBoundary &tb,
              const Sizes &indexSizes) const override {
    Emitter &e = tb.e;
    TokenRows rows(tb, op.getLogits(), op.getQueryPaddingMask(), indexSizes);
    // The counts c_e are constants of the gradient (the top-k choice).
    RoutingTotals totals =
        routingTotals(tb, rows, op.getIndices(), op.getStatistics());
    Value counts = totals.count;
    // L = E sum_e P_e c_e / (sum P sum c) with sum P = the token count, so
    // dL/dl_{t,i} = p_i (w_i - sum_e w_e p_e), w_e = E c_e / (N sum c).
    Value factor =
        e.select(noRoutedTokens(e, totals), e.f64(0),
                 e.divf(e.mulf(e.extf(loadScalar(tb, op.getLossGrad())),
                               e.indexToF64(rows.experts)),
                        e.mulf(totals.probabilitySum, totals.countSum)));
    rows.forEachToken(e, [&](Emitter &x, Value t, Value maximum, Value sum) {
      auto prob = [&](Emitter &y, Value i) {
        return y.extf(
            y.divf(y.exp(y.subf(y.load(rows.logits, {t, i}), maximum)), sum));
      };
      Value mean =
          x.loop(x.idx(0), rows.experts, {x.f64(0)},
                 [&](Emitter &y, Value i, ValueRange acc) {
                   return SmallVector<Value>{
                       y.addf(acc[0], y.mulf(y.load(counts, {i}), prob(y, i)))};
                 })[0];
      x.loop(x.idx(0), rows.experts, [&](Emitter &y, Value i) {
        Value g = y.mulf(factor,
                         y.mulf(prob(y, i), y.subf(y.load(counts, {i}), mean)));
        y.store(y.truncf(g), rows.resultRows, {t, i});
      });
    });
    return tb.result(rows.result, op.getType());
  }
};

//===----------------------------------------------------------------------===//
// moa.importance_cv_loss and its gradient
//===----------------------------------------------------------------------===//

/// The per-expert importance (sum of gates, f64) of [pairs] gates routed by
/// [pairs] indices, after checking the indices lie in [-1, E); with its
/// mean, unbiased variance and mean^2 + 1e-10. Serial: E and the pairs are
/// few next to the layer's GEMMs.
struct Importance {
  Value gates, indices, pairs, experts, importance, mean, variance, norm;

  Importance(TensorBoundary &tb, Value gatesTensor, Value indicesTensor,
             int64_t numExperts) {
    Emitter &e = tb.e;
    tb.nameOperands({{gatesTensor, "gates"}, {indicesTensor, "indices"}});
    Value batch = tb.dim(gatesTensor, 0), length = tb.dim(gatesTensor, 1);
    Value k = tb.dim(gatesTensor, 2);
    pairs = tb.checkedCount({{tb.dim(indicesTensor, 0), batch},
                             {tb.dim(indicesTensor, 1), length},
                             {tb.dim(indicesTensor, 2), k}},
                            e.mul(e.mul(batch, length), k));
    gates = tb.collapse(tb.buffer(gatesTensor), {{0, 1, 2}});
    indices = tb.collapse(tb.buffer(indicesTensor), {{0, 1, 2}});
    experts = e.idx(numExperts);
    importance = e.alloc(e.b.getF64Type(), {experts});
    fill(e, importance, experts, e.f64(0));
    guardIndices(
        tb, indices, pairs, e.idx(-1), experts,
        [&](Emitter &g) {
          g.loop(g.idx(0), pairs, [&](Emitter &x, Value p) {
            Value ex = x.toIndex(x.load(indices, {p}));
            x.ifThen(x.cmp(arith::CmpIPredicate::sge, ex, x.idx(0)),
                     [&](Emitter &y) {
                       y.store(y.addf(y.load(importance, {ex}),
                                      y.extf(y.load(gates, {p}))),
                               importance, {ex});
                     });
          });
        },
        FailureCode::ExpertIndexOutOfRange);
    Value count = e.f64(double(numExperts));
    mean = e.divf(e.loop(e.idx(0), experts, {e.f64(0)},
                         [&](Emitter &x, Value ex, ValueRange acc) {
                           return SmallVector<Value>{
                               x.addf(acc[0], x.load(importance, {ex}))};
                         })[0],
                  count);
    Value squares =
        e.loop(e.idx(0), experts, {e.f64(0)},
               [&](Emitter &x, Value ex, ValueRange acc) {
                 Value d = x.subf(x.load(importance, {ex}), mean);
                 return SmallVector<Value>{x.addf(acc[0], x.mulf(d, d))};
               })[0];
    variance = e.divf(squares, e.f64(std::max<double>(numExperts - 1, 1)));
    norm = e.addf(e.mulf(mean, mean), e.f64(1e-10));
  }
};

struct LowerImportanceCVLoss : OpRewritePattern<ImportanceCVLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ImportanceCVLossOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const int64_t experts = op.getNumExperts();
    Value loss = memref::AllocOp::create(
        rewriter, e.loc, MemRefType::get({}, rewriter.getF32Type()));
    Importance in(tb, op.getGates(), op.getIndices(), experts);
    Value cv = experts > 1 ? e.divf(in.variance, in.norm) : e.f64(0);
    e.store(e.truncf(cv), loss, {});
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// dL/dI_e = 2 (I_e - mean) / ((E - 1) n) - 2 var mean / (E n^2) with
/// n = mean^2 + 1e-10; each pair's gate gets its expert's.
struct LowerImportanceCVLossGrad : OpRewritePattern<ImportanceCVLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ImportanceCVLossGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const int64_t experts = op.getNumExperts();
    Value result = allocLike(tb, op.getGates());
    Value out = tb.collapse(result, {{0, 1, 2}});
    Value scale = e.extf(loadScalar(tb, op.getLossGrad()));
    Importance in(tb, op.getGates(), op.getIndices(), experts);
    fill(e, out, in.pairs, e.f32(0));
    if (experts > 1) {
      Value a = e.divf(e.f64(2), e.mulf(e.f64(double(experts - 1)), in.norm));
      Value b =
          e.divf(e.mulf(e.f64(2), e.mulf(in.variance, in.mean)),
                 e.mulf(e.f64(double(experts)), e.mulf(in.norm, in.norm)));
      e.loop(e.idx(0), in.pairs, [&](Emitter &x, Value p) {
        Value ex = x.toIndex(x.load(in.indices, {p}));
        x.ifThen(inRange(x, ex, x.idx(0), in.experts), [&](Emitter &y) {
          Value d = y.subf(
              y.mulf(a, y.subf(y.load(in.importance, {ex}), in.mean)), b);
          y.store(y.truncf(y.mulf(scale, d)), out, {p});
        });
      });
    }
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

} // namespace

void mlir::moa::loops::populateAuxLossLoopPatterns(
    RewritePatternSet &patterns) {
  patterns
      .add<LowerRouterZLoss, LowerMutualInformationLoss, LowerLoadBalancingLoss,
           LowerRoutingStatistics, LowerRouterZLossGrad,
           LowerLoadBalancingLossGrad, LowerMutualInformationLossGrad,
           LowerImportanceCVLoss, LowerImportanceCVLossGrad>(
          patterns.getContext());
}
