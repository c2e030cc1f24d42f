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

/// Threads of a reducing block; warps per block of the row kernels.
constexpr int64_t kReduceThreads = 256, kRowWarps = 4;

using Terms = function_ref<SmallVector<Value>(Emitter &, Value, Value)>;
using Finish = function_ref<void(Emitter &, Value, ValueRange)>;

/// Launches `blocks` blocks of kReduceThreads threads: block b sums, in
/// f64, each of the `numTerms` values terms(x, b, i) over i in [0, count),
/// and its first thread runs finish(x, b, totals).
void reduce(Emitter &e, StringRef name, Value blocks, Value count,
            int64_t numTerms, Terms terms, Finish finish) {
  Type f64 = e.b.getF64Type();
  launch(e, name, atLeastOne(e, blocks), e.idx(1), kReduceThreads,
         {sharedBuffer({numTerms, kReduceThreads}, f64)},
         [&](Emitter &x, const Kernel &k, ValueRange shared) {
           SmallVector<Value> zeros(numTerms, x.f64(0));
           SmallVector<Value> mine =
               x.stridedLoop(k.tid, count, x.idx(kReduceThreads), zeros,
                             [&](Emitter &w, Value i, ValueRange acc) {
                               SmallVector<Value> sums,
                                   values = terms(w, k.bidX, i);
                               for (auto [a, v] : llvm::zip(acc, values))
                                 sums.push_back(w.addf(a, v));
                               return sums;
                             });
           for (auto [t, v] : llvm::enumerate(mine))
             x.store(v, shared[0], {x.idx(t), k.tid});
           barrier(x);
           for (int64_t half = kReduceThreads / 2; half > 0; half /= 2) {
             x.ifThen(x.cmp(arith::CmpIPredicate::ult, k.tid, x.idx(half)),
                      [&](Emitter &y) {
                        for (int64_t t = 0; t < numTerms; ++t) {
                          Value other = y.load(
                              shared[0], {y.idx(t), y.add(k.tid, y.idx(half))});
                          y.store(y.addf(y.load(shared[0], {y.idx(t), k.tid}),
                                         other),
                                  shared[0], {y.idx(t), k.tid});
                        }
                      });
             barrier(x);
           }
           x.ifThen(isZero(x, k.tid), [&](Emitter &y) {
             SmallVector<Value> totals;
             for (int64_t t = 0; t < numTerms; ++t)
               totals.push_back(y.load(shared[0], {y.idx(t), y.idx(0)}));
             finish(y, k.bidX, totals);
           });
         });
}

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

/// Records `code` unless every i32 of `indices` [count] is in [lo, hi): a
/// thread per index.
void checkRange(Emitter &e, Value err, Value indices, Value count, Value lo,
                Value hi, FailureCode code) {
  constexpr int64_t threads = 8 * kWarp;
  launch(
      e, "moa_check_indices", atLeastOne(e, e.ceilDiv(count, e.idx(threads))),
      e.idx(1), threads, {}, [&](Emitter &x, const Kernel &k, ValueRange) {
        Value i = x.add(x.mul(k.bidX, x.idx(threads)), k.tid);
        x.ifThen(x.cmp(arith::CmpIPredicate::ult, i, count), [&](Emitter &y) {
          Value v = y.toIndex(y.load(indices, {i}));
          Value bad = y.orI(y.cmp(arith::CmpIPredicate::slt, v, lo),
                            y.cmp(arith::CmpIPredicate::sge, v, hi));
          y.ifThen(bad, [&](Emitter &z) { fail(z, err, code); });
        });
      });
}

/// A new 0-d f32 device buffer.
Value scalarBuffer(Emitter &e) {
  return gpu::AllocOp::create(e.b, e.loc, MemRefType::get({}, e.b.getF32Type()),
                              Type(), ValueRange{}, ValueRange{}, ValueRange{})
      .getMemref();
}

/// 1.0 or 0.0 (f64).
Value oneIf(Emitter &x, Value cond) {
  return x.select(cond, x.f64(1), x.f64(0));
}

struct LowerCrossEntropy : OpRewritePattern<CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getTargets().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "targets must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    tb.nameOperands({{op.getLogits(), "logits"}, {op.getTargets(), "targets"}});
    Value batch = tb.dim(op.getLogits(), 0), length = tb.dim(op.getLogits(), 1);
    Value vocab = tb.dim(op.getLogits(), 2);
    Value rows = tb.checkedCount({{tb.dim(op.getTargets(), 0), batch},
                                  {tb.dim(op.getTargets(), 1), length}},
                                 e.mul(batch, length));
    Value logits = tb.collapse(tb.buffer(op.getLogits()), {{0, 1}, {2}});
    Value targets = tb.collapse(tb.buffer(op.getTargets()), {{0, 1}});
    checkRange(e, err, targets, rows, e.idx(-1), vocab,
               FailureCode::TargetOutOfRange);
    Value stats = softmaxStatistics(e, logits, rows, vocab);
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
    // Given statistics (moa-data-parallel's) need no softmax of this batch.
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

/// L = E * sum_e (P_e / sum P) (c_e / sum c), from the statistics operand
/// where given.
struct LowerLoadBalancingLoss : LoadBalancingPattern<LoadBalancingLossOp> {
  using LoadBalancingPattern::LoadBalancingPattern;
  Value lower(LoadBalancingLossOp op, Emitter &e, TensorBoundary &tb,
              const RouterRows &in, Value indices, Value k) const override {
    Value totals;
    Value experts = in.experts;
    if (Value given = op.getStatistics()) {
      tb.nameOperands({{given, "statistics"}});
      experts = tb.checkedCount(
          {{tb.dim(given, 0), e.idx(2)}, {tb.dim(given, 1), in.experts}},
          in.experts);
      totals = tb.buffer(given);
    } else {
      totals = routingTotals(e, in, indices, k);
    }
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
          Value entropy = x.loop(x.idx(0), in.experts, {x.f64(0)},
                                 [&](Emitter &w, Value ex, ValueRange h) {
                                   Value logP = w.subf(
                                       w.extf(w.load(in.logits, {t, ex})), lse);
                                   return SmallVector<Value>{
                                       w.subf(h[0], w.mulf(w.exp(logP), logP))};
                                 })[0];
          return SmallVector<Value>{x.select(counted, entropy, x.f64(0)),
                                    oneIf(x, counted)};
        },
        [&](Emitter &x, Value, ValueRange total) {
          Value n = x.maxf(total[1], x.f64(1));
          Value marginal =
              x.loop(x.idx(0), in.experts, {x.f64(0)},
                     [&](Emitter &w, Value ex, ValueRange h) {
                       Value p =
                           w.divf(w.extf(w.load(totals, {w.idx(0), ex})), n);
                       Value term = w.mulf(p, w.log(w.maxf(p, w.f64(1e-300))));
                       return SmallVector<Value>{w.subf(h[0], term)};
                     })[0];
          Value value = x.subf(x.divf(total[0], n), marginal);
          Value none = x.cmpf(arith::CmpFPredicate::OLE, total[1], x.f64(0));
          x.store(x.truncf(x.select(none, x.f64(0), value)), loss, {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

/// var(importance) / (mean(importance)^2 + 1e-10), the variance unbiased:
/// a block per expert sums its gates, the first thread of a last launch
/// the moments.
struct LowerImportanceCVLoss : OpRewritePattern<ImportanceCVLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ImportanceCVLossOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    tb.nameOperands({{op.getGates(), "gates"}, {op.getIndices(), "indices"}});
    SmallVector<std::pair<Value, Value>> sizes;
    Value pairs = e.idx(1);
    for (int64_t i = 0; i < 3; ++i) {
      sizes.push_back({tb.dim(op.getIndices(), i), tb.dim(op.getGates(), i)});
      pairs = e.mul(pairs, sizes.back().second);
    }
    pairs = tb.checkedCount(sizes, pairs);
    Value gates = tb.collapse(tb.buffer(op.getGates()), {{0, 1, 2}});
    Value indices = tb.collapse(tb.buffer(op.getIndices()), {{0, 1, 2}});
    const int64_t numExperts = op.getNumExperts();
    Value experts = e.idx(numExperts);
    checkRange(e, err, indices, pairs, e.idx(-1), experts,
               FailureCode::ExpertIndexOutOfRange);
    Value importance = deviceAlloc(e, e.b.getF64Type(), {experts});
    reduce(
        e, "moa_expert_importance", experts, pairs, 1,
        [&](Emitter &x, Value ex, Value i) {
          Value to = x.toIndex(x.load(indices, {i}));
          return SmallVector<Value>{
              x.select(x.cmp(arith::CmpIPredicate::eq, to, ex),
                       x.extf(x.load(gates, {i})), x.f64(0))};
        },
        [&](Emitter &x, Value ex, ValueRange total) {
          x.store(total[0], importance, {ex});
        });
    Value loss = scalarBuffer(e);
    reduce(
        e, "moa_importance_cv_loss", e.idx(1), experts, 1,
        [&](Emitter &x, Value, Value ex) {
          return SmallVector<Value>{x.load(importance, {ex})};
        },
        [&](Emitter &x, Value, ValueRange total) {
          if (numExperts == 1) {
            x.store(x.f32(0), loss, {});
            return;
          }
          Value mean = x.divf(total[0], x.f64(double(numExperts)));
          Value squares =
              x.loop(x.idx(0), experts, {x.f64(0)},
                     [&](Emitter &w, Value ex, ValueRange acc) {
                       Value d = w.subf(w.load(importance, {ex}), mean);
                       return SmallVector<Value>{w.addf(acc[0], w.mulf(d, d))};
                     })[0];
          Value variance = x.divf(squares, x.f64(double(numExperts - 1)));
          x.store(x.truncf(x.divf(variance,
                                  x.addf(x.mulf(mean, mean), x.f64(1e-10)))),
                  loss, {});
        });
    rewriter.replaceOp(op, tb.result(loss, op.getType()));
    return success();
  }
};

} // namespace

void gpu_kernels::populateGPULossPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCrossEntropy, LowerRouterZLoss, LowerLoadBalancingLoss,
               LowerRoutingStatistics, LowerMutualInformationLoss,
               LowerImportanceCVLoss>(patterns.getContext());
}
