//===- GPUBackward.cpp - The primitives' backward ops as GPU kernels ------===//
//
// Part of moa-lower-to-gpu: moa.route_grad (a thread per token, the same
// per-token code as the CPU loops), moa.grouped_matmul_grad and
// moa.multi_query_attention_grad. These first kernels aim at correctness
// and determinism, not yet at speed: every output element has one writer
// thread, which loops over what it sums (no atomics, no tensor cores);
// the attention backward recomputes the scores, as FlashAttention-2 does,
// from each query row's log-sum-exp.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;
using ::moa::runtime::FailureCode;

namespace {

/// `buffer32` (f32) as a buffer of `type`'s element type: itself, or a new
/// device buffer converted by a thread per element.
Value narrowed(TensorBoundary &tb, Value buffer32, ShapedType type) {
  Emitter &e = tb.e;
  Type element = type.getElementType();
  if (element.isF32())
    return tb.result(buffer32, type);
  auto memrefType = cast<MemRefType>(buffer32.getType());
  SmallVector<Value> sizes;
  Value count = e.idx(1);
  ReassociationIndices all;
  for (int64_t i = 0; i < memrefType.getRank(); ++i) {
    sizes.push_back(tb.dim(buffer32, i));
    count = e.mul(count, sizes.back());
    all.push_back(i);
  }
  Value result = deviceAlloc(e, element, sizes);
  emitNarrow(e, tb.collapse(buffer32, {all}), tb.collapse(result, {all}),
             count);
  return tb.result(result, type);
}

/// sum_c a[ai..., c] b[bi..., c] over c in [0, n), in f32.
Value dot(Emitter &x, Value a, ValueRange ai, Value b, ValueRange bi, Value n) {
  return x.loop(
      x.idx(0), n, {x.f32(0)}, [&](Emitter &y, Value c, ValueRange acc) {
        SmallVector<Value> at(ai), bt(bi);
        at.push_back(c);
        bt.push_back(c);
        return SmallVector<Value>{y.addf(
            acc[0], y.mulf(toF32(y, y.load(a, at)), toF32(y, y.load(b, bt))))};
      })[0];
}

struct LowerRouteGrad : OpRewritePattern<RouteGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value tokens;
    loops::RouteGradRows rows(tb, op, tokens);
    Value result = deviceAlloc(
        e, e.b.getF32Type(),
        {tb.dim(op.getLogits(), 0), tb.dim(op.getLogits(), 1), rows.experts});
    rows.dLogits = tb.collapse(result, {{0, 1}, {2}});
    checkRange(e, err, tb.collapse(rows.indices, {{0, 1}}),
               e.mul(tokens, rows.k), e.idx(-1), rows.experts,
               FailureCode::ExpertIndexOutOfRange);
    forEachElement(e, "moa_route_grad", tokens, [&](Emitter &x, Value t) {
      // A bad index (reported above) would be read out of bounds.
      Value inRange = x.loop(
          x.idx(0), rows.k, {x.cmp(arith::CmpIPredicate::eq, t, t)},
          [&](Emitter &y, Value j, ValueRange acc) {
            Value ex = y.toIndex(y.load(rows.indices, {t, j}));
            return SmallVector<Value>{y.andI(
                acc[0], y.cmp(arith::CmpIPredicate::slt, ex, rows.experts))};
          })[0];
      x.ifThen(inRange, [&](Emitter &y) { rows.token(y, t); });
    });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.grouped_matmul_grad
//===----------------------------------------------------------------------===//

/// With U = result_grad rows W[e]^T per dispatched row (pair p of expert e):
/// gates_grad[p] = <x row, U>, input_grad rows += g_p U (a thread per input
/// element over its slots), weight_grad[e] = sum over e's rows of x^T (g_p
/// result_grad row) (a thread per weight element over e's rows).
struct LowerGroupedMatmulGrad : OpRewritePattern<GroupedMatmulGradOp> {
  using OpRewritePattern::OpRewritePattern;

  /// What the kernels of one op read.
  struct Grouping {
    loops::GroupedRows &g;
    Value grad, k, pairs;
    /// Whether dispatched row `row` holds a pair (row < off[E], its pair
    /// in range), and that pair.
    std::pair<Value, Value> pairOf(Emitter &x, Value row) const {
      Value dispatched = loops::offsetAt(x, g.off, g.numExperts);
      Value pair = x.toIndex(x.load(
          g.perm, {x.select(x.cmp(arith::CmpIPredicate::ult, row, dispatched),
                            row, x.idx(0))}));
      Value valid =
          x.andI(x.cmp(arith::CmpIPredicate::ult, row, dispatched),
                 x.andI(x.cmp(arith::CmpIPredicate::sge, pair, x.idx(0)),
                        x.cmp(arith::CmpIPredicate::slt, pair, pairs)));
      return {valid, x.select(valid, pair, x.idx(0))};
    }
    /// The expert whose offsets range holds `row`.
    Value expertOf(Emitter &x, Value row) const {
      return x.loop(x.idx(1), g.numExperts, {x.idx(0)},
                    [&](Emitter &y, Value ex, ValueRange acc) {
                      Value start = loops::offsetAt(y, g.off, ex);
                      return SmallVector<Value>{
                          y.select(y.cmp(arith::CmpIPredicate::sle, start, row),
                                   ex, acc[0])};
                    })[0];
    }
    Value sourceRow(Emitter &x, Value pair) const {
      return g.tokenRows ? x.div(pair, k) : pair;
    }
    Value gradRow(Emitter &x, Value pair) const {
      return g.combine ? x.div(pair, k) : pair;
    }
    Value gate(Emitter &x, Value pair) const {
      return g.combine ? x.load(g.gates, {pair}) : x.f32(1);
    }
  };

  LogicalResult matchAndRewrite(GroupedMatmulGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!loops::GroupedRows::isI32(op.getPermutation(), op.getOffsets()))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    loops::GroupedRows g(tb, op.getInput(), op.getWeight(), op.getPermutation(),
                         op.getOffsets(), op.getGates(),
                         loops::GroupedRows::Widen::Nothing);
    Value k =
        g.combine ? tb.dim(op.getGates(), 2) : tb.dim(op.getResultGrad(), 2);
    Grouping in{g,
                tb.collapse(tb.buffer(op.getResultGrad()),
                            loops::GroupedRows::rowGroups(g.combine)),
                k, e.mul(g.tokens, k)};
    SmallVector<std::pair<Value, Value>> sizes = g.sizeChecks(tb, k);
    sizes.append({{tb.dim(op.getResultGrad(), 0), g.batch},
                  {tb.dim(op.getResultGrad(), 1), g.length},
                  {tb.dim(op.getResultGrad(), g.combine ? 2 : 3), g.nDim}});
    Value ok = e.andI(tb.agree(sizes), g.groupingSizesOk(tb, in.pairs));
    // Sizes that disagree: nothing runs (a zero count), the error reported.
    Value pairs = e.select(ok, in.pairs, e.idx(0));
    checkGrouping(e, err, in, ok);
    Type f32 = e.b.getF32Type();
    Value us = deviceAlloc(e, f32, {pairs, g.kDim});
    forEachElement(e, "moa_grouped_grad_rows", e.mul(pairs, g.kDim),
                   [&](Emitter &x, Value i) {
                     Value row = x.div(i, g.kDim);
                     Value c = arith::RemUIOp::create(x.b, x.loc, i, g.kDim);
                     auto [valid, pair] = in.pairOf(x, row);
                     x.ifThen(valid, [&](Emitter &y) {
                       Value ex = in.expertOf(y, row);
                       y.store(dot(y, in.grad, {in.gradRow(y, pair)}, g.weight,
                                   {ex, c}, g.nDim),
                               us, {row, c});
                     });
                   });
    SmallVector<Value> results = {
        narrowed(tb, inputGrad(tb, in, us, pairs), op.getInputGrad().getType()),
        narrowed(tb, weightGrad(tb, in), op.getWeightGrad().getType())};
    if (g.combine)
      results.push_back(tb.result(gatesGrad(tb, in, us, pairs),
                                  op.getGatesGrad()[0].getType()));
    rewriter.replaceOp(op, results);
    return success();
  }

  /// Offsets that start at 0, never decrease and dispatch at most `pairs`.
  static void checkGrouping(Emitter &e, Value err, const Grouping &in,
                            Value ok) {
    forEachElement(
        e, "moa_grouped_grad_check", e.idx(1), [&](Emitter &x, Value) {
          Value good = x.loop(
              x.idx(0), in.g.numExperts,
              {isZero(x, loops::offsetAt(x, in.g.off, x.idx(0)))},
              [&](Emitter &y, Value ex, ValueRange acc) {
                Value next = loops::offsetAt(y, in.g.off, y.add(ex, y.idx(1)));
                return SmallVector<Value>{y.andI(
                    acc[0],
                    y.andI(y.cmp(arith::CmpIPredicate::sle,
                                 loops::offsetAt(y, in.g.off, ex), next),
                           y.cmp(arith::CmpIPredicate::sle, next, in.pairs)))};
              })[0];
          x.ifThen(x.notI(x.andI(ok, good)), [&](Emitter &y) {
            fail(y, err, FailureCode::GroupedMatmulBadPermutation);
          });
        });
  }

  /// [input rows, K] f32: each element sums g_p U over its row's pairs.
  static Value inputGrad(TensorBoundary &tb, const Grouping &in, Value us,
                         Value pairs) {
    Emitter &e = tb.e;
    const loops::GroupedRows &g = in.g;
    Value inputRows = g.tokenRows ? g.tokens : in.pairs;
    // position[pair]: the pair's dispatched row, -1 if none.
    Value position = deviceAlloc(e, e.b.getI32Type(), {in.pairs});
    deviceFill(e, position, arith::ConstantIntOp::create(e.b, e.loc, -1, 32));
    forEachElement(e, "moa_grouped_grad_positions", pairs,
                   [&](Emitter &x, Value row) {
                     auto [valid, pair] = in.pairOf(x, row);
                     x.ifThen(valid, [&](Emitter &y) {
                       y.store(y.toI32(row), position, {pair});
                     });
                   });
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < (g.tokenRows ? 3 : 4); ++i)
      sizes.push_back(tb.dim(g.inputTensor, i));
    Value full = deviceAlloc(e, e.b.getF32Type(), sizes);
    Value result =
        tb.collapse(full, loops::GroupedRows::rowGroups(g.tokenRows));
    Value slots = g.tokenRows ? in.k : e.idx(1);
    forEachElement(e, "moa_grouped_grad_input", e.mul(inputRows, g.kDim),
                   [&](Emitter &x, Value i) {
                     Value r = x.div(i, g.kDim);
                     Value c = arith::RemUIOp::create(x.b, x.loc, i, g.kDim);
                     Value sum = x.loop(
                         x.idx(0), slots, {x.f32(0)},
                         [&](Emitter &y, Value j, ValueRange acc) {
                           Value pair =
                               g.tokenRows ? y.add(y.mul(r, in.k), j) : r;
                           Value row = y.toIndex(y.load(position, {pair}));
                           Value routed =
                               y.cmp(arith::CmpIPredicate::sge, row, y.idx(0));
                           Value u = loadIf(y, routed, us, {row, c}, y.f32(0));
                           return SmallVector<Value>{
                               y.addf(acc[0], y.mulf(in.gate(y, pair), u))};
                         })[0];
                     x.store(sum, result, {r, c});
                   });
    return full;
  }

  /// [E, K, N] f32: each element sums over its expert's dispatched rows.
  static Value weightGrad(TensorBoundary &tb, const Grouping &in) {
    Emitter &e = tb.e;
    const loops::GroupedRows &g = in.g;
    Value result =
        deviceAlloc(e, e.b.getF32Type(), {g.numExperts, g.kDim, g.nDim});
    Value perExpert = e.mul(g.kDim, g.nDim);
    forEachElement(
        e, "moa_grouped_grad_weight", e.mul(g.numExperts, perExpert),
        [&](Emitter &x, Value i) {
          Value ex = x.div(i, perExpert);
          Value rest = arith::RemUIOp::create(x.b, x.loc, i, perExpert);
          Value c = x.div(rest, g.nDim);
          Value n = arith::RemUIOp::create(x.b, x.loc, rest, g.nDim);
          Value first = loops::offsetAt(x, g.off, ex);
          Value last =
              x.min(loops::offsetAt(x, g.off, x.add(ex, x.idx(1))), in.pairs);
          Value sum =
              x.loop(first, last, {x.f32(0)},
                     [&](Emitter &y, Value row, ValueRange acc) {
                       auto [valid, pair] = in.pairOf(y, row);
                       Value term = y.mulf(
                           y.mulf(toF32(y, y.load(g.input,
                                                  {in.sourceRow(y, pair), c})),
                                  in.gate(y, pair)),
                           toF32(y, y.load(in.grad, {in.gradRow(y, pair), n})));
                       return SmallVector<Value>{
                           y.addf(acc[0], y.select(valid, term, y.f32(0)))};
                     })[0];
          x.store(sum, result, {ex, c, n});
        });
    return result;
  }

  /// [B, T, k] f32: <x row, U> per dispatched pair, zero for the others.
  static Value gatesGrad(TensorBoundary &tb, const Grouping &in, Value us,
                         Value pairs) {
    Emitter &e = tb.e;
    Value result =
        deviceAlloc(e, e.b.getF32Type(), {in.g.batch, in.g.length, in.k});
    deviceFill(e, result, e.f32(0));
    Value flat = tb.collapse(result, {{0, 1, 2}});
    forEachElement(e, "moa_grouped_grad_gates", pairs,
                   [&](Emitter &x, Value row) {
                     auto [valid, pair] = in.pairOf(x, row);
                     x.ifThen(valid, [&](Emitter &y) {
                       y.store(dot(y, in.g.input, {in.sourceRow(y, pair)}, us,
                                   {row}, in.g.kDim),
                               flat, {pair});
                     });
                   });
    return result;
  }
};

//===----------------------------------------------------------------------===//
// moa.multi_query_attention_grad
//===----------------------------------------------------------------------===//

/// A thread per query row for D = rowsum(dO * O) and (unless the forward
/// gave it) its log-sum-exp, a thread per query row for dQ, a thread per key
/// for dK and dV; each recomputes the scores it needs (S = scale Q K^T,
/// P = exp(S - lse)).
struct LowerMultiQueryAttentionGrad
    : OpRewritePattern<MultiQueryAttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  /// The operands as [B, rows or keys, h] buffers and what masks a score.
  struct Rows {
    Value query, key, value, out, dOut, mask;
    Value k, h, keys, scale;
    bool causal;
    /// Whether query row r of batch b sees key j.
    Value sees(Emitter &x, Value b, Value r, Value j) const {
      Value v = causal ? x.cmp(arith::CmpIPredicate::ule, j, x.div(r, k))
                       : x.cmp(arith::CmpIPredicate::eq, j, j);
      if (mask)
        v = x.andI(v, x.notI(x.load(mask, {b, j})));
      return v;
    }
    Value score(Emitter &x, Value b, Value r, Value j) const {
      return x.mulf(scale, dot(x, query, {b, r}, key, {b, j}, h));
    }
    /// P (zero for a row that sees no key) and dS = scale P (dP - D).
    std::pair<Value, Value> probability(Emitter &x, Value b, Value r, Value j,
                                        Value lse, Value delta) const {
      Value rowLse = x.load(lse, {b, r});
      Value empty = x.cmpf(arith::CmpFPredicate::OEQ, rowLse,
                           x.f32(-std::numeric_limits<double>::infinity()));
      Value p =
          x.select(empty, x.f32(0), x.exp(x.subf(score(x, b, r, j), rowLse)));
      Value dp = dot(x, dOut, {b, r}, value, {b, j}, h);
      return {p, x.mulf(x.mulf(scale, p), x.subf(dp, x.load(delta, {b, r})))};
    }
  };

  LogicalResult matchAndRewrite(MultiQueryAttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getQuery(), 0), length = tb.dim(op.getQuery(), 1);
    Rows in;
    in.k = tb.dim(op.getQuery(), 2);
    in.h = tb.dim(op.getQuery(), 3);
    in.keys = tb.dim(op.getKey(), 1);
    SmallVector<std::pair<Value, Value>> sizes;
    loops::AttentionOperands::checkSizes(tb, op.getKey(), op.getValue(),
                                         op.getKeyPaddingMask(), batch, in.keys,
                                         in.h, sizes);
    const Value querySizes[] = {batch, length, in.k, in.h};
    for (Value t : {op.getResult(), op.getResultGrad()})
      for (auto [i, size] : llvm::enumerate(querySizes))
        sizes.push_back({tb.dim(t, i), size});
    if (op.getLse())
      for (int i = 0; i < 3; ++i)
        sizes.push_back({tb.dim(op.getLse(), i), querySizes[i]});
    Value ok = tb.agree(sizes);
    auto perRow = [&](Value tensor) {
      return tb.collapse(tb.buffer(tensor), {{0}, {1, 2}, {3}});
    };
    in.query = perRow(op.getQuery());
    in.out = perRow(op.getResult());
    in.dOut = perRow(op.getResultGrad());
    in.key = tb.buffer(op.getKey());
    in.value = tb.buffer(op.getValue());
    in.mask =
        op.getKeyPaddingMask() ? tb.buffer(op.getKeyPaddingMask()) : Value();
    in.scale = loops::attentionScale(e, op.getScale(), in.h);
    in.causal = op.getCausal();
    Value rows = e.mul(length, in.k);
    // Sizes that disagree: nothing runs, the error reported.
    Value queryRows = e.select(ok, e.mul(batch, rows), e.idx(0));
    Value keyRows = e.select(ok, e.mul(batch, in.keys), e.idx(0));
    forEachElement(e, "moa_attention_grad_check", e.idx(1),
                   [&](Emitter &x, Value) {
                     x.ifThen(x.notI(ok), [&](Emitter &y) {
                       fail(y, err, FailureCode::ShapeMismatch);
                     });
                   });
    Type f32 = e.b.getF32Type();
    // The forward's log-sum-exp where given, else a pass over the keys.
    Value lse = op.getLse() ? tb.collapse(tb.buffer(op.getLse()), {{0}, {1, 2}})
                            : deviceAlloc(e, f32, {batch, rows});
    Value delta = deviceAlloc(e, f32, {batch, rows});
    forEachElement(
        e, "moa_attention_grad_rows", queryRows, [&](Emitter &x, Value i) {
          Value b = x.div(i, rows);
          Value r = arith::RemUIOp::create(x.b, x.loc, i, rows);
          if (!op.getLse())
            x.store(rowLogSumExp(x, in, b, r), lse, {b, r});
          x.store(dot(x, in.dOut, {b, r}, in.out, {b, r}, in.h), delta, {b, r});
        });
    Value dQuery = deviceAlloc(e, f32, {batch, length, in.k, in.h});
    Value dq = tb.collapse(dQuery, {{0}, {1, 2}, {3}});
    forEachElement(e, "moa_attention_grad_query", queryRows,
                   [&](Emitter &x, Value i) {
                     Value b = x.div(i, rows);
                     Value r = arith::RemUIOp::create(x.b, x.loc, i, rows);
                     queryGrad(x, in, b, r, dq, lse, delta);
                   });
    Value dKey = deviceAlloc(e, f32, {batch, in.keys, in.h});
    Value dValue = deviceAlloc(e, f32, {batch, in.keys, in.h});
    forEachElement(e, "moa_attention_grad_key", keyRows,
                   [&](Emitter &x, Value i) {
                     Value b = x.div(i, in.keys);
                     Value j = arith::RemUIOp::create(x.b, x.loc, i, in.keys);
                     keyGrad(x, in, b, j, rows, dKey, dValue, lse, delta);
                   });
    rewriter.replaceOp(op, {narrowed(tb, dQuery, op.getQueryGrad().getType()),
                            narrowed(tb, dKey, op.getKeyGrad().getType()),
                            narrowed(tb, dValue, op.getValueGrad().getType())});
    return success();
  }

  /// The log-sum-exp of query row r's visible scores (-inf if none).
  static Value rowLogSumExp(Emitter &x, const Rows &in, Value b, Value r) {
    Value negInf = x.f32(-std::numeric_limits<double>::infinity());
    SmallVector<Value> ms =
        x.loop(x.idx(0), in.keys, {negInf, x.f32(0)},
               [&](Emitter &y, Value j, ValueRange acc) {
                 auto ifOp = scf::IfOp::create(
                     y.b, y.loc, in.sees(y, b, r, j),
                     [&](OpBuilder &nb, Location nloc) {
                       Emitter z(nb, nloc);
                       Value s = in.score(z, b, r, j);
                       Value top = z.maxf(acc[0], s);
                       Value sum =
                           z.addf(z.mulf(acc[1], z.exp(z.subf(acc[0], top))),
                                  z.exp(z.subf(s, top)));
                       scf::YieldOp::create(nb, nloc, ValueRange{top, sum});
                     },
                     [&](OpBuilder &nb, Location nloc) {
                       scf::YieldOp::create(nb, nloc, acc);
                     });
                 return SmallVector<Value>(ifOp.getResults());
               });
    Value empty = x.cmpf(arith::CmpFPredicate::OEQ, ms[0], negInf);
    return x.select(empty, negInf, x.addf(ms[0], x.log(ms[1])));
  }

  /// dQ of query row r of batch b: the sum of dS K over the keys it sees.
  static void queryGrad(Emitter &x, const Rows &in, Value b, Value r, Value dq,
                        Value lse, Value delta) {
    auto zero = [&](Emitter &y, Value c) { y.store(y.f32(0), dq, {b, r, c}); };
    x.loop(x.idx(0), in.h, zero);
    x.loop(x.idx(0), in.keys, [&](Emitter &y, Value j) {
      y.ifThen(in.sees(y, b, r, j), [&](Emitter &z) {
        Value ds = in.probability(z, b, r, j, lse, delta).second;
        z.loop(z.idx(0), in.h, [&](Emitter &w, Value c) {
          Value kc = toF32(w, w.load(in.key, {b, j, c}));
          w.store(w.addf(w.load(dq, {b, r, c}), w.mulf(ds, kc)), dq, {b, r, c});
        });
      });
    });
  }

  /// dK and dV of key j of batch b: the sums of dS Q and P dO over the
  /// query rows that see it.
  static void keyGrad(Emitter &x, const Rows &in, Value b, Value j, Value rows,
                      Value dk, Value dv, Value lse, Value delta) {
    x.loop(x.idx(0), in.h, [&](Emitter &y, Value c) {
      y.store(y.f32(0), dk, {b, j, c});
      y.store(y.f32(0), dv, {b, j, c});
    });
    x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
      y.ifThen(in.sees(y, b, r, j), [&](Emitter &z) {
        auto [p, ds] = in.probability(z, b, r, j, lse, delta);
        z.loop(z.idx(0), in.h, [&](Emitter &w, Value c) {
          Value qc = toF32(w, w.load(in.query, {b, r, c}));
          Value oc = toF32(w, w.load(in.dOut, {b, r, c}));
          w.store(w.addf(w.load(dk, {b, j, c}), w.mulf(ds, qc)), dk, {b, j, c});
          w.store(w.addf(w.load(dv, {b, j, c}), w.mulf(p, oc)), dv, {b, j, c});
        });
      });
    });
  }
};

} // namespace

void gpu_kernels::populateGPUBackwardPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRouteGrad, LowerGroupedMatmulGrad,
               LowerMultiQueryAttentionGrad>(patterns.getContext());
}
