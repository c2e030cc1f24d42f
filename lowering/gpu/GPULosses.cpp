//===- GPULosses.cpp - moa's losses as GPU kernels ------------------------===//
//
// Part of moa-lower-to-gpu: moa.cross_entropy and the router's auxiliary
// losses (load balancing with its routing statistics, z, mutual
// information, importance CV) as small deterministic reductions. A warp
// per row takes the softmax statistics of the logits (maximum and sum of
// exponentials, f32); then one block, or one block per expert, sums
// per-row terms in f64, each thread a strided share and then a tree
// through shared memory, always in the same order (no atomics: the same
// inputs give the same bits); its first thread writes the result.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>
#include <type_traits>

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;
using ::moa::runtime::FailureCode;

namespace {

/// Warps per block of the row kernels.
constexpr int64_t kRowWarps = 4;

/// [rows, 2]: the maximum of each row of `logits` [rows, width] and the sum
/// of exp(logit - maximum), in f32, a warp per row.
Value softmaxStatistics(Emitter &e, Value logits, Value rows, Value width) {
  Value stats = deviceAlloc(e, e.b.getF32Type(), {rows, e.idx(2)});
  Value negInf = e.f32(-std::numeric_limits<double>::infinity());
  launch(
      e, "moa_softmax_statistics",
      atLeastOne(e, e.ceilDiv(rows, e.idx(kRowWarps))), e.idx(1),
      kRowWarps * kWarp, {}, [&](Emitter &kernel, const Kernel &k, ValueRange) {
        Value r = kernel.add(kernel.mul(k.bidX, kernel.idx(kRowWarps)), k.warp);
        kernel.ifThen(
            kernel.cmp(arith::CmpIPredicate::ult, r, rows), [&](Emitter &x) {
              auto fold = [&](Value init, auto step) {
                return x.stridedLoop(k.lane, width, x.idx(kWarp), {init},
                                     [&](Emitter &w, Value c, ValueRange acc) {
                                       return SmallVector<Value>{step(
                                           w, acc[0], w.load(logits, {r, c}))};
                                     })[0];
              };
              Value maximum =
                  warpMax(x, fold(negInf, [](Emitter &w, Value m, Value l) {
                            return w.maxf(m, l);
                          }));
              Value sum =
                  warpSum(x, fold(x.f32(0), [&](Emitter &w, Value s, Value l) {
                            return w.addf(s, w.exp(w.subf(l, maximum)));
                          }));
              x.ifThen(isZero(x, k.lane), [&](Emitter &y) {
                y.store(maximum, stats, {r, y.idx(0)});
                y.store(sum, stats, {r, y.idx(1)});
              });
            });
      });
  return stats;
}

/// The log-sum-exp of row r (f64) from its softmax statistics.
Value logSumExp(Emitter &x, Value stats, Value r) {
  return x.addf(x.extf(x.load(stats, {r, x.idx(0)})),
                x.log(x.extf(x.load(stats, {r, x.idx(1)}))));
}

/// 1.0 or 0.0 (f64).
Value oneIf(Emitter &x, Value cond) {
  return x.select(cond, x.f64(1), x.f64(0));
}

/// moa.cross_entropy(_grad)'s [rows, V] logits and [rows] targets, the
/// targets checked in [-1, V), the rows' softmax statistics.
struct LabelledLogits {
  Value rows, vocab, logits, targets, stats;
  LabelledLogits(TensorBoundary &tb, Value err, Value logitsTensor,
                 Value targetsTensor) {
    Emitter &e = tb.e;
    tb.nameOperands({{logitsTensor, "logits"}, {targetsTensor, "targets"}});
    Value batch = tb.dim(logitsTensor, 0), length = tb.dim(logitsTensor, 1);
    vocab = tb.dim(logitsTensor, 2);
    rows = tb.checkedCount(
        {{tb.dim(targetsTensor, 0), batch}, {tb.dim(targetsTensor, 1), length}},
        e.mul(batch, length));
    logits = tb.collapse(tb.buffer(logitsTensor), {{0, 1}, {2}});
    targets = tb.collapse(tb.buffer(targetsTensor), {{0, 1}});
    checkRange(e, err, targets, rows, e.idx(-1), vocab,
               FailureCode::TargetOutOfRange);
    stats = softmaxStatistics(e, logits, rows, vocab);
  }
};

struct LowerCrossEntropy : OpRewritePattern<CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getTargets().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "targets must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LabelledLogits in(tb, errorWord(rewriter, op), op.getLogits(),
                      op.getTargets());
    Value rows = in.rows, vocab = in.vocab, logits = in.logits,
          targets = in.targets, stats = in.stats;
    Value loss = scalarBuffer(e);
    reduce(
        e, "moa_cross_entropy", e.idx(1), rows, 2,
        [&](Emitter &x, Value, Value r) {
          Value t = x.toIndex(x.load(targets, {r}));
          Value labelled = x.andI(x.cmp(arith::CmpIPredicate::sge, t, x.idx(0)),
                                  x.cmp(arith::CmpIPredicate::slt, t, vocab));
          // -log p_t = lse - l_t, read only for a labelled row.
          Value target = x.extf(loadIf(x, labelled, logits, {r, t}, x.f32(0)));
          Value nll = x.subf(logSumExp(x, stats, r), target);
          return SmallVector<Value>{x.select(labelled, nll, x.f64(0)),
                                    oneIf(x, labelled)};
        },
        [&](Emitter &x, Value, ValueRange total) {
          x.store(x.truncf(x.divf(total[0], x.maxf(total[1], x.f64(1)))), loss,
                  {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// What the router losses read: [tokens, E] logits, the optional padding
/// mask and their softmax statistics.
struct RouterRows : loops::LogitRows {
  Value stats;
  RouterRows(TensorBoundary &tb, Value logitsTensor, Value maskTensor,
             ArrayRef<std::pair<Value, Value>> extraSizes = {},
             bool withStatistics = true)
      : LogitRows(tb, logitsTensor, maskTensor, extraSizes) {
    if (withStatistics)
      stats = softmaxStatistics(tb.e, logits, tokens, experts);
  }
  /// p(e | t) in f64.
  Value probability(Emitter &x, Value t, Value ex) const {
    return x.exp(
        x.subf(x.extf(x.load(logits, {t, ex})), logSumExp(x, stats, t)));
  }
};

struct LowerRouterZLoss : OpRewritePattern<RouterZLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouterZLossOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    RouterRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value loss = scalarBuffer(e);
    reduce(
        e, "moa_router_z_loss", e.idx(1), in.tokens, 2,
        [&](Emitter &x, Value, Value t) {
          Value counted = x.notI(in.padded(x, t));
          Value lse = logSumExp(x, in.stats, t);
          return SmallVector<Value>{
              x.select(counted, x.mulf(lse, lse), x.f64(0)), oneIf(x, counted)};
        },
        [&](Emitter &x, Value, ValueRange total) {
          x.store(x.truncf(x.divf(total[0], x.maxf(total[1], x.f64(1)))), loss,
                  {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// [2, E] (f32): per expert, the summed router probability P_e over the
/// non-padded tokens and the (token, slot) pairs routed to it c_e (none
/// without `indices` [tokens, k]): a block per expert.
Value routingTotals(Emitter &e, const RouterRows &in, Value indices, Value k) {
  Value totals = deviceAlloc(e, e.b.getF32Type(), {e.idx(2), in.experts});
  reduce(
      e, "moa_routing_statistics", in.experts, in.tokens, 2,
      [&](Emitter &x, Value ex, Value t) {
        Value counted = x.notI(in.padded(x, t));
        Value routed = x.f64(0);
        if (indices)
          routed = x.loop(
              x.idx(0), k, {routed}, [&](Emitter &w, Value j, ValueRange acc) {
                Value to = w.toIndex(w.load(indices, {t, j}));
                return SmallVector<Value>{w.addf(
                    acc[0], oneIf(w, w.cmp(arith::CmpIPredicate::eq, to, ex)))};
              })[0];
        return SmallVector<Value>{
            x.select(counted, in.probability(x, t, ex), x.f64(0)),
            x.select(counted, routed, x.f64(0))};
      },
      [&](Emitter &x, Value ex, ValueRange total) {
        x.store(x.truncf(total[0]), totals, {x.idx(0), ex});
        x.store(x.truncf(total[1]), totals, {x.idx(1), ex});
      });
  return totals;
}

/// The ops of the load-balancing loss read i32 indices [B, T, k] beside the
/// logits; their range is checked; `lower` builds the result from them.
template <typename OpTy> struct LoadBalancingPattern : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  virtual Value lower(OpTy op, Emitter &e, TensorBoundary &tb,
                      const RouterRows &in, Value indices, Value k) const = 0;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const final {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    tb.nameOperands({{op.getIndices(), "indices"}});
    // The loss on given statistics (moa-data-parallel's) needs no softmax
    // of this batch; its gradient does.
    bool given = false;
    if constexpr (std::is_same_v<OpTy, LoadBalancingLossOp>)
      given = op.getStatistics() != nullptr;
    RouterRows in(tb, op.getLogits(), op.getQueryPaddingMask(),
                  {{tb.dim(op.getIndices(), 0), tb.dim(op.getLogits(), 0)},
                   {tb.dim(op.getIndices(), 1), tb.dim(op.getLogits(), 1)}},
                  /*withStatistics=*/!given);
    Value k = tb.dim(op.getIndices(), 2);
    Value indices = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}, {2}});
    checkRange(e, err, tb.collapse(indices, {{0, 1}}), e.mul(in.tokens, k),
               e.idx(-1), in.experts, FailureCode::ExpertIndexOutOfRange);
    rewriter.replaceOp(op, lower(op, e, tb, in, indices, k));
    return success();
  }
};

/// The [2, E] statistics of a load-balancing op (its operand where given,
/// else this batch's) and the number of experts to read from them.
template <typename OpTy>
std::pair<Value, Value> statisticsOf(OpTy op, Emitter &e, TensorBoundary &tb,
                                     const RouterRows &in, Value indices,
                                     Value k) {
  Value given = op.getStatistics();
  if (!given)
    return {routingTotals(e, in, indices, k), in.experts};
  tb.nameOperands({{given, "statistics"}});
  Value experts = tb.checkedCount(
      {{tb.dim(given, 0), e.idx(2)}, {tb.dim(given, 1), in.experts}},
      in.experts);
  return {tb.buffer(given), experts};
}

/// L = E * sum_e (P_e / sum P) (c_e / sum c), from the statistics operand
/// where given.
struct LowerLoadBalancingLoss : LoadBalancingPattern<LoadBalancingLossOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(LoadBalancingLossOp op, Emitter &e, TensorBoundary &tb,
              const RouterRows &in, Value indices, Value k) const override {
    auto [totals, experts] = statisticsOf(op, e, tb, in, indices, k);
    Value loss = scalarBuffer(e);
    reduce(
        e, "moa_load_balancing_loss", e.idx(1), experts, 3,
        [&](Emitter &x, Value, Value ex) {
          Value p = x.extf(x.load(totals, {x.idx(0), ex}));
          Value c = x.extf(x.load(totals, {x.idx(1), ex}));
          return SmallVector<Value>{p, c, x.mulf(p, c)};
        },
        [&](Emitter &x, Value, ValueRange sum) {
          Value none =
              x.orI(x.cmpf(arith::CmpFPredicate::OLE, sum[0], x.f64(0)),
                    x.cmpf(arith::CmpFPredicate::OLE, sum[1], x.f64(0)));
          Value dot = x.divf(sum[2], x.mulf(sum[0], sum[1]));
          Value value = x.mulf(x.indexToF64(in.experts), dot);
          x.store(x.truncf(x.select(none, x.f64(0), value)), loss, {});
        });
    return tb.result(loss, op.getType());
  }
};

struct LowerRoutingStatistics : LoadBalancingPattern<RoutingStatisticsOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(RoutingStatisticsOp op, Emitter &e, TensorBoundary &tb,
              const RouterRows &in, Value indices, Value k) const override {
    return tb.result(routingTotals(e, in, indices, k), op.getType());
  }
};

/// H(E|T) - H(E): the mean expert distribution from routingTotals, the
/// conditional entropy summed over tokens, H(E) by the first thread.
struct LowerMutualInformationLoss : OpRewritePattern<MutualInformationLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MutualInformationLossOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    RouterRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value totals = routingTotals(e, in, Value(), Value());
    Value loss = scalarBuffer(e);
    reduce(
        e, "moa_mutual_information_loss", e.idx(1), in.tokens, 2,
        [&](Emitter &x, Value, Value t) {
          Value counted = x.notI(in.padded(x, t));
          Value lse = logSumExp(x, in.stats, t);
          auto minusPLogP = [&](Emitter &w, Value ex, ValueRange h) {
            Value logP = w.subf(w.extf(w.load(in.logits, {t, ex})), lse);
            return SmallVector<Value>{w.subf(h[0], w.mulf(w.exp(logP), logP))};
          };
          Value entropy =
              x.loop(x.idx(0), in.experts, {x.f64(0)}, minusPLogP)[0];
          return SmallVector<Value>{x.select(counted, entropy, x.f64(0)),
                                    oneIf(x, counted)};
        },
        [&](Emitter &x, Value, ValueRange total) {
          Value n = x.maxf(total[1], x.f64(1));
          auto minusPLogP = [&](Emitter &w, Value ex, ValueRange h) {
            Value p = w.divf(w.extf(w.load(totals, {w.idx(0), ex})), n);
            Value term = w.mulf(p, w.log(w.maxf(p, w.f64(1e-300))));
            return SmallVector<Value>{w.subf(h[0], term)};
          };
          Value marginal =
              x.loop(x.idx(0), in.experts, {x.f64(0)}, minusPLogP)[0];
          Value value = x.subf(x.divf(total[0], n), marginal);
          Value none = x.cmpf(arith::CmpFPredicate::OLE, total[1], x.f64(0));
          x.store(x.truncf(x.select(none, x.f64(0), value)), loss, {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// The 0-d f32 `lossGrad` as f64, read in a kernel.
Value lossGradIn(Emitter &x, TensorBoundary &tb, Value lossGrad) {
  return x.extf(x.load(tb.buffer(lossGrad), {}));
}

/// The experts' importance (summed gates, a block per expert) of
/// moa.importance_cv_loss(_grad) and its moments: [mean, unbiased variance]
/// (f64, one thread; the variance zero for E = 1).
struct Importance {
  Value gates, indices, pairs, importance, moments;
  int64_t numExperts;

  Importance(Emitter &e, TensorBoundary &tb, Value err, Value gatesTensor,
             Value indicesTensor, int64_t experts)
      : numExperts(experts) {
    tb.nameOperands({{gatesTensor, "gates"}, {indicesTensor, "indices"}});
    SmallVector<std::pair<Value, Value>> sizes;
    pairs = e.idx(1);
    for (int64_t i = 0; i < 3; ++i) {
      sizes.push_back({tb.dim(indicesTensor, i), tb.dim(gatesTensor, i)});
      pairs = e.mul(pairs, sizes.back().second);
    }
    pairs = tb.checkedCount(sizes, pairs);
    gates = tb.collapse(tb.buffer(gatesTensor), {{0, 1, 2}});
    indices = tb.collapse(tb.buffer(indicesTensor), {{0, 1, 2}});
    Value count = e.idx(numExperts);
    checkRange(e, err, indices, pairs, e.idx(-1), count,
               FailureCode::ExpertIndexOutOfRange);
    importance = deviceAlloc(e, e.b.getF64Type(), {count});
    reduce(
        e, "moa_expert_importance", count, pairs, 1,
        [&](Emitter &x, Value ex, Value i) {
          Value to = x.toIndex(x.load(indices, {i}));
          return SmallVector<Value>{
              x.select(x.cmp(arith::CmpIPredicate::eq, to, ex),
                       x.extf(x.load(gates, {i})), x.f64(0))};
        },
        [&](Emitter &x, Value ex, ValueRange total) {
          x.store(total[0], importance, {ex});
        });
    moments = deviceAlloc(e, e.b.getF64Type(), {e.idx(2)});
    forEachElement(
        e, "moa_importance_moments", e.idx(1), [&](Emitter &x, Value) {
          auto sum = [&](auto term) {
            return x.loop(x.idx(0), count, {x.f64(0)},
                          [&](Emitter &w, Value ex, ValueRange acc) {
                            return SmallVector<Value>{w.addf(
                                acc[0], term(w, w.load(importance, {ex})))};
                          })[0];
          };
          Value mean = x.divf(sum([](Emitter &, Value v) { return v; }),
                              x.f64(double(numExperts)));
          Value squares = sum([&](Emitter &w, Value v) {
            Value d = w.subf(v, mean);
            return w.mulf(d, d);
          });
          Value variance = numExperts > 1
                               ? x.divf(squares, x.f64(double(numExperts - 1)))
                               : x.f64(0);
          x.store(mean, moments, {x.idx(0)});
          x.store(variance, moments, {x.idx(1)});
        });
  }

  Value mean(Emitter &x) const { return x.load(moments, {x.idx(0)}); }
  Value variance(Emitter &x) const { return x.load(moments, {x.idx(1)}); }
  /// mean^2 + 1e-10.
  Value norm(Emitter &x) const {
    Value m = mean(x);
    return x.addf(x.mulf(m, m), x.f64(1e-10));
  }
};

/// var(importance) / (mean(importance)^2 + 1e-10), zero for E = 1.
struct LowerImportanceCVLoss : OpRewritePattern<ImportanceCVLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ImportanceCVLossOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Importance in(e, tb, err, op.getGates(), op.getIndices(),
                  op.getNumExperts());
    Value loss = scalarBuffer(e);
    forEachElement(
        e, "moa_importance_cv_loss", e.idx(1), [&](Emitter &x, Value) {
          x.store(x.truncf(x.divf(in.variance(x), in.norm(x))), loss, {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// dL/dI_e = 2 (I_e - mean) / ((E - 1) n) - 2 var mean / (E n^2), n =
/// mean^2 + 1e-10: each routed pair's gate gets its expert's, a thread per
/// pair.
struct LowerImportanceCVLossGrad : OpRewritePattern<ImportanceCVLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ImportanceCVLossGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const int64_t experts = op.getNumExperts();
    Importance in(e, tb, err, op.getGates(), op.getIndices(), experts);
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < 3; ++i)
      sizes.push_back(tb.dim(op.getGates(), i));
    Value result = deviceAlloc(e, e.b.getF32Type(), sizes);
    Value out = tb.collapse(result, {{0, 1, 2}});
    forEachElement(
        e, "moa_importance_cv_loss_grad", in.pairs, [&](Emitter &x, Value p) {
          Value ex = x.toIndex(x.load(in.indices, {p}));
          Value routed =
              x.andI(x.cmp(arith::CmpIPredicate::sge, ex, x.idx(0)),
                     x.cmp(arith::CmpIPredicate::slt, ex, x.idx(experts)));
          Value g = x.f64(0);
          if (experts > 1) {
            Value n = in.norm(x), mean = in.mean(x);
            Value a = x.divf(x.f64(2), x.mulf(x.f64(double(experts - 1)), n));
            Value b = x.divf(x.mulf(x.f64(2), x.mulf(in.variance(x), mean)),
                             x.mulf(x.f64(double(experts)), x.mulf(n, n)));
            Value importance =
                x.load(in.importance, {x.select(routed, ex, x.idx(0))});
            g = x.subf(x.mulf(a, x.subf(importance, mean)), b);
            g = x.mulf(lossGradIn(x, tb, op.getLossGrad()), g);
          }
          x.store(x.truncf(x.select(routed, g, x.f64(0))), out, {p});
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Gradients: the softmax statistics and the counts the loss divides by,
// then a thread per logit.
//===----------------------------------------------------------------------===//

/// A new f32 device buffer shaped as `like` ([B, T, width]) and its
/// [rows, width] view.
std::pair<Value, Value> rowsResult(TensorBoundary &tb, Value like) {
  Value buffer =
      deviceAlloc(tb.e, tb.e.b.getF32Type(),
                  {tb.dim(like, 0), tb.dim(like, 1), tb.dim(like, 2)});
  return {buffer, tb.collapse(buffer, {{0, 1}, {2}})};
}

/// The number of unpadded tokens of `in` (f64 [1] device buffer).
Value countTokens(Emitter &e, const RouterRows &in) {
  return deviceTotals(
      e, "moa_count_tokens", in.tokens, 1, [&](Emitter &x, Value t) {
        return SmallVector<Value>{oneIf(x, x.notI(in.padded(x, t)))};
      });
}

struct LowerCrossEntropyGrad : OpRewritePattern<CrossEntropyGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getTargets().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "targets must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    LabelledLogits in(tb, errorWord(rewriter, op), op.getLogits(),
                      op.getTargets());
    Value rows = in.rows, vocab = in.vocab, logits = in.logits,
          targets = in.targets, stats = in.stats;
    Value labelled = deviceTotals(
        e, "moa_count_labelled", rows, 1, [&](Emitter &x, Value r) {
          Value t = x.toIndex(x.load(targets, {r}));
          return SmallVector<Value>{
              oneIf(x, x.cmp(arith::CmpIPredicate::sge, t, x.idx(0)))};
        });
    auto [result, grad] = rowsResult(tb, op.getLogits());
    forEachElement(
        e, "moa_cross_entropy_grad", e.mul(rows, vocab),
        [&](Emitter &x, Value i) {
          Value r = x.div(i, vocab);
          Value c = arith::RemUIOp::create(x.b, x.loc, i, vocab);
          Value t = x.toIndex(x.load(targets, {r}));
          Value factor = x.divf(lossGradIn(x, tb, op.getLossGrad()),
                                x.maxf(x.load(labelled, {x.idx(0)}), x.f64(1)));
          Value p = x.exp(
              x.subf(x.extf(x.load(logits, {r, c})), logSumExp(x, stats, r)));
          Value hot = oneIf(x, x.cmp(arith::CmpIPredicate::eq, c, t));
          Value value = x.mulf(factor, x.subf(p, hot));
          Value counted = x.cmp(arith::CmpIPredicate::sge, t, x.idx(0));
          x.store(x.truncf(x.select(counted, value, x.f64(0))), grad, {r, c});
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// The gradients of the router losses: a thread per (token, expert) of
/// `in`, zero for padded tokens, else body(x, t, expert, lse) (f64).
Value routerGrad(TensorBoundary &tb, StringRef name, Value logitsTensor,
                 const RouterRows &in,
                 function_ref<Value(Emitter &, Value, Value, Value)> body) {
  auto [result, grad] = rowsResult(tb, logitsTensor);
  forEachElement(
      tb.e, name, tb.e.mul(in.tokens, in.experts), [&](Emitter &x, Value i) {
        Value t = x.div(i, in.experts);
        Value ex = arith::RemUIOp::create(x.b, x.loc, i, in.experts);
        auto ifOp = scf::IfOp::create(
            x.b, x.loc, in.padded(x, t),
            [&](OpBuilder &nb, Location nloc) {
              scf::YieldOp::create(nb, nloc, Emitter(nb, nloc).f64(0));
            },
            [&](OpBuilder &nb, Location nloc) {
              Emitter y(nb, nloc);
              scf::YieldOp::create(nb, nloc,
                                   body(y, t, ex, logSumExp(y, in.stats, t)));
            });
        x.store(x.truncf(ifOp.getResult(0)), grad, {t, ex});
      });
  return result;
}

/// 2 g lse_t p(e|t) / N.
struct LowerRouterZLossGrad : OpRewritePattern<RouterZLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouterZLossGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    RouterRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value count = countTokens(e, in);
    Value result = routerGrad(
        tb, "moa_router_z_loss_grad", op.getLogits(), in,
        [&](Emitter &x, Value t, Value ex, Value lse) {
          Value factor =
              x.divf(x.mulf(x.f64(2), lossGradIn(x, tb, op.getLossGrad())),
                     x.maxf(x.load(count, {x.idx(0)}), x.f64(1)));
          return x.mulf(x.mulf(factor, lse), in.probability(x, t, ex));
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// g p(e|t) (w_e - sum_e' p(e'|t) w_e') / N with w_e = log p(e) -
/// log p(e|t), p(e) from routingTotals.
struct LowerMutualInformationLossGrad
    : OpRewritePattern<MutualInformationLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MutualInformationLossGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    RouterRows in(tb, op.getLogits(), op.getQueryPaddingMask());
    Value totals = routingTotals(e, in, Value(), Value());
    Value count = countTokens(e, in);
    Value result = routerGrad(
        tb, "moa_mutual_information_loss_grad", op.getLogits(), in,
        [&](Emitter &x, Value t, Value ex, Value lse) {
          Value n = x.maxf(x.load(count, {x.idx(0)}), x.f64(1));
          auto logP = [&](Emitter &y, Value i) {
            return y.subf(y.extf(y.load(in.logits, {t, i})), lse);
          };
          auto w = [&](Emitter &y, Value i) {
            Value mean = y.divf(y.extf(y.load(totals, {y.idx(0), i})), n);
            return y.subf(y.log(y.maxf(mean, y.f64(1e-300))), logP(y, i));
          };
          Value expected =
              x.loop(x.idx(0), in.experts, {x.f64(0)},
                     [&](Emitter &y, Value i, ValueRange acc) {
                       return SmallVector<Value>{
                           y.addf(acc[0], y.mulf(y.exp(logP(y, i)), w(y, i)))};
                     })[0];
          Value scale = x.divf(lossGradIn(x, tb, op.getLossGrad()), n);
          return x.mulf(scale,
                        x.mulf(x.exp(logP(x, ex)), x.subf(w(x, ex), expected)));
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// g p_i (c_i - sum_e c_e p_e) E / (sum P sum c), the counts constants.
struct LowerLoadBalancingLossGrad
    : LoadBalancingPattern<LoadBalancingLossGradOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(LoadBalancingLossGradOp op, Emitter &e, TensorBoundary &tb,
              const RouterRows &in, Value indices, Value k) const override {
    auto [totals, experts] = statisticsOf(op, e, tb, in, indices, k);
    Value sums = deviceTotals(
        e, "moa_routing_sums", experts, 2, [&](Emitter &x, Value ex) {
          return SmallVector<Value>{x.extf(x.load(totals, {x.idx(0), ex})),
                                    x.extf(x.load(totals, {x.idx(1), ex}))};
        });
    Value result = routerGrad(
        tb, "moa_load_balancing_loss_grad", op.getLogits(), in,
        [&](Emitter &x, Value t, Value ex, Value) {
          Value sumP = x.load(sums, {x.idx(0)});
          Value sumC = x.load(sums, {x.idx(1)});
          Value none = x.orI(x.cmpf(arith::CmpFPredicate::OLE, sumP, x.f64(0)),
                             x.cmpf(arith::CmpFPredicate::OLE, sumC, x.f64(0)));
          Value factor = x.divf(x.mulf(lossGradIn(x, tb, op.getLossGrad()),
                                       x.indexToF64(in.experts)),
                                x.mulf(sumP, sumC));
          auto count = [&](Emitter &y, Value i) {
            return y.extf(y.load(totals, {y.idx(1), i}));
          };
          Value mean = x.loop(
              x.idx(0), in.experts, {x.f64(0)},
              [&](Emitter &y, Value i, ValueRange acc) {
                return SmallVector<Value>{y.addf(
                    acc[0], y.mulf(count(y, i), in.probability(y, t, i)))};
              })[0];
          Value g = x.mulf(factor, x.mulf(in.probability(x, t, ex),
                                          x.subf(count(x, ex), mean)));
          return x.select(none, x.f64(0), g);
        });
    return tb.result(result, op.getType());
  }
};

} // namespace

void gpu_kernels::populateGPULossPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCrossEntropy, LowerRouterZLoss, LowerLoadBalancingLoss,
               LowerRoutingStatistics, LowerMutualInformationLoss,
               LowerImportanceCVLoss, LowerCrossEntropyGrad,
               LowerRouterZLossGrad, LowerMutualInformationLossGrad,
               LowerLoadBalancingLossGrad, LowerImportanceCVLossGrad>(
      patterns.getContext());
}
