//===- BackwardOps.cpp - Backward primitives to loops ---------------------===//
//
// The backward ops of the primitives (moa.route_grad,
// moa.grouped_matmul_grad, moa.multi_query_attention_grad) and the weight
// gradients of row projections. Data-dependent checks run serially before
// any parallel loop, because a failure is recorded on the calling thread only.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"
#include "passes/LinalgBuilders.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

loops::RouteGradRows::RouteGradRows(TensorBoundary &tb, RouteGradOp op,
                                    Value &tokens) {
  Emitter &e = tb.e;
  Value batch = tb.dim(op.getLogits(), 0), length = tb.dim(op.getLogits(), 1);
  experts = tb.dim(op.getLogits(), 2);
  k = tb.dim(op.getIndices(), 2);
  tokens = tb.checkedCount({{tb.dim(op.getIndices(), 0), batch},
                            {tb.dim(op.getIndices(), 1), length},
                            {tb.dim(op.getGatesGrad(), 0), batch},
                            {tb.dim(op.getGatesGrad(), 1), length},
                            {tb.dim(op.getGatesGrad(), 2), k}},
                           e.mul(batch, length));
  logits = tb.collapse(tb.buffer(op.getLogits()), {{0, 1}, {2}});
  indices = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}, {2}});
  dGates = tb.collapse(tb.buffer(op.getGatesGrad()), {{0, 1}, {2}});
  topkSoftmax = op.getGating() == Gating::TopKSoftmax;
  renormalize = op.getRenormalize();
}

void loops::RouteGradRows::token(Emitter &p, Value t) const {
  auto zero = [&](Emitter &x, Value i) { x.store(x.f32(0), dLogits, {t, i}); };
  p.loop(p.idx(0), experts, zero);
  Value expertOf0 = p.toIndex(p.load(indices, {t, p.idx(0)}));
  // A padded token (index -1) has constant zero gates; a token with
  // -1 in any slot is treated so (moa.route writes all or none).
  Value routed =
      p.loop(p.idx(0), k, {p.cmp(arith::CmpIPredicate::eq, k, k)},
             [&](Emitter &x, Value j, ValueRange acc) {
               Value ex = x.toIndex(x.load(indices, {t, j}));
               return SmallVector<Value>{x.andI(
                   acc[0], x.cmp(arith::CmpIPredicate::sge, ex, x.idx(0)))};
             })[0];
  p.ifThen(routed, [&](Emitter &r) {
    auto expertOf = [&](Emitter &x, Value j) {
      return x.toIndex(x.load(indices, {t, j}));
    };
    auto logit = [&](Emitter &x, Value i) { return x.load(logits, {t, i}); };
    auto dGate = [&](Emitter &x, Value j) { return x.load(dGates, {t, j}); };
    if (topkSoftmax) {
      // g_j = softmax over the selected logits; the first slot
      // holds the largest.
      Value reference = logit(r, expertOf0);
      Value denominator = r.loop(
          r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
            return SmallVector<Value>{x.sum(
                s[0], x.exp(x.subf(logit(x, expertOf(x, j)), reference)))};
          })[0];
      auto gate = [&](Emitter &x, Value j) {
        return x.divf(x.exp(x.subf(logit(x, expertOf(x, j)), reference)),
                      denominator);
      };
      Value dot = r.loop(r.idx(0), k, {r.f32(0)},
                         [&](Emitter &x, Value j, ValueRange s) {
                           return SmallVector<Value>{
                               x.addf(s[0], x.mulf(dGate(x, j), gate(x, j)))};
                         })[0];
      r.loop(r.idx(0), k, [&](Emitter &x, Value j) {
        x.store(x.mulf(gate(x, j), x.subf(dGate(x, j), dot)), dLogits,
                {t, expertOf(x, j)});
      });
      return;
    }
    // softmax_topk: p over all E; the gradient of the selected
    // probabilities (through the renormalisation if set), then
    // through the softmax.
    auto [maximum, denominator] = softmaxStats(r, logits, t, experts);
    auto prob = [&, maximum = maximum, denominator = denominator](Emitter &x,
                                                                  Value i) {
      return x.divf(x.exp(x.subf(logit(x, i), maximum)), denominator);
    };
    Value total =
        r.loop(r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
          return SmallVector<Value>{x.addf(s[0], prob(x, expertOf(x, j)))};
        })[0];
    // The forward op renormalises only a positive total.
    Value renorm = renormalize
                       ? r.cmpf(arith::CmpFPredicate::OGT, total, r.f32(0))
                       : r.cmp(arith::CmpIPredicate::ne, r.idx(0), r.idx(0));
    Value scale = r.select(renorm, total, r.f32(1));
    // sum_m dg_m g_m with g_m = p_m / scale.
    Value gateDot =
        r.loop(r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
          Value g = x.divf(prob(x, expertOf(x, j)), scale);
          return SmallVector<Value>{x.addf(s[0], x.mulf(dGate(x, j), g))};
        })[0];
    // dL/dp of slot j.
    auto dProb = [&](Emitter &x, Value j) {
      Value renormed = x.divf(x.subf(dGate(x, j), gateDot), scale);
      return x.select(renorm, renormed, dGate(x, j));
    };
    Value c =
        r.loop(r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
          return SmallVector<Value>{
              x.addf(s[0], x.mulf(dProb(x, j), prob(x, expertOf(x, j))))};
        })[0];
    r.loop(r.idx(0), experts, [&](Emitter &x, Value i) {
      x.store(x.mulf(x.f32(-1), x.mulf(prob(x, i), c)), dLogits, {t, i});
    });
    r.loop(r.idx(0), k, [&](Emitter &x, Value j) {
      Value i = expertOf(x, j);
      x.store(x.addf(x.load(dLogits, {t, i}), x.mulf(prob(x, i), dProb(x, j))),
              dLogits, {t, i});
    });
  });
}
namespace {

//===----------------------------------------------------------------------===//
// moa.route_grad
//===----------------------------------------------------------------------===//

struct LowerRouteGrad : OpRewritePattern<RouteGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value tokens;
    RouteGradRows rows(tb, op, tokens);
    Value result = e.alloc(
        rewriter.getF32Type(),
        {tb.dim(op.getLogits(), 0), tb.dim(op.getLogits(), 1), rows.experts});
    rows.dLogits = tb.collapse(result, {{0, 1}, {2}});
    // Indices are checked serially: a bad one reads out of bounds.
    guardIndices(
        tb, tb.collapse(rows.indices, {{0, 1}}), e.mul(tokens, rows.k),
        e.idx(-1), rows.experts,
        [&](Emitter &g) {
          g.parallel({tokens}, [&](Emitter &p, ValueRange ivs) {
            rows.token(p, ivs[0]);
          });
        },
        FailureCode::ExpertIndexOutOfRange);
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.grouped_matmul_grad
//===----------------------------------------------------------------------===//

/// In parallel over experts (an expert's weight gradient is written by one
/// thread), the expert's rows in tiles of kTileRows: gather the input rows X
/// and the result-gradient rows G, U = G W[e]^T, the gate gradient
/// <X, U> per pair, then G and U scaled by the gates, dW[e] += X^T G. Then in
/// parallel over input rows, the input gradient reads U back per pair.
/// Where G and W are bf16 (mixed precision), U is a bf16 GEMM on W^T packed
/// once per call (moa_rt_bf16_gemm) and G is gathered in bf16 for it; dW's
/// GEMM stays f32, since its G is scaled by the gates.
struct LowerGroupedMatmulGrad : OpRewritePattern<GroupedMatmulGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupedMatmulGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!GroupedRows::isI32(op.getPermutation(), op.getOffsets()))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    const bool bf16 = isBf16Product(op.getResultGrad(), op.getWeight());
    GroupedRows g(tb, op.getInput(), op.getWeight(), op.getPermutation(),
                  op.getOffsets(), op.getGates(),
                  bf16 ? GroupedRows::Widen::Nothing
                       : GroupedRows::Widen::InputAndWeight);
    const bool combine = g.combine, tokenRows = g.tokenRows;
    Value inputTensor = g.inputTensor, weightTensor = g.weightTensor;
    Value gradTensor = bf16 ? op.getResultGrad() : tb.toF32(op.getResultGrad());
    Value batch = g.batch, length = g.length, tokens = g.tokens;
    Value numExperts = g.numExperts, kDim = g.kDim, nDim = g.nDim;
    Value k = combine ? tb.dim(op.getGates(), 2) : tb.dim(gradTensor, 2);
    Value pairs = e.mul(tokens, k);

    SmallVector<std::pair<Value, Value>> sizes = g.sizeChecks(tb, k);
    sizes.append({{tb.dim(gradTensor, 0), batch},
                  {tb.dim(gradTensor, 1), length},
                  {tb.dim(gradTensor, combine ? 2 : 3), nDim}});
    Value sizesOk = tb.checkSizes(sizes);
    Value groupingOk = g.groupingSizesOk(tb, pairs);
    Value input = g.input, weight = g.weight, perm = g.perm, off = g.off,
          gates = g.gates;
    Value grad =
        tb.collapse(tb.buffer(gradTensor), GroupedRows::rowGroups(combine));

    Value inputGrad = allocLike(tb, inputTensor);
    Value inputGradRows =
        tb.collapse(inputGrad, GroupedRows::rowGroups(tokenRows));
    Value weightGrad = allocLike(tb, weightTensor);
    Value gatesGrad = combine ? e.alloc(f32, {batch, length, k}) : Value();
    Value gatesGradFlat =
        combine ? tb.collapse(gatesGrad, {{0, 1, 2}}) : Value();
    Value inputRows = tokenRows ? tokens : pairs;
    // Everything starts at zero: rows, weights and gates nobody routes to.
    fill(e, flatten(tb, inputGrad), numElements(tb, inputTensor), e.f32(0));
    fill(e, flatten(tb, weightGrad), numElements(tb, weightTensor), e.f32(0));
    if (combine)
      fill(e, gatesGradFlat, pairs, e.f32(0));

    withPairPositions(
        tb, e.andI(sizesOk, groupingOk), perm, off, numExperts, pairs,
        [&](Emitter &v, Value position, Value dispatched) {
          Value xs = v.alloc(f32, {dispatched, kDim});
          Value gs = v.alloc(f32, {dispatched, nDim});
          Value us = v.alloc(f32, {dispatched, kDim});
          Value gsBf16, packedT;
          if (bf16) {
            gsBf16 = v.alloc(rewriter.getBF16Type(), {dispatched, nDim});
            packedT = packedBf16Weight(v, tb.module, weight,
                                       /*transposed=*/true);
          }
          Value tile = v.idx(kTileRows);
          v.parallel({numExperts}, [&](Emitter &p, ValueRange ivs) {
            Value ex = ivs[0];
            Value first = offsetAt(p, off, ex);
            Value rows = p.sub(offsetAt(p, off, p.add(ex, p.idx(1))), first);
            p.loop(p.idx(0), p.ceilDiv(rows, tile), [&](Emitter &q, Value i) {
              Value start = q.add(first, q.mul(i, tile));
              Value count = q.min(tile, q.sub(rows, q.mul(i, tile)));
              q.loop(start, q.add(start, count), [&](Emitter &x, Value row) {
                Value pair = x.toIndex(x.load(perm, {row}));
                Value source = tokenRows ? x.div(pair, k) : pair;
                Value gradRow = combine ? x.div(pair, k) : pair;
                x.loop(x.idx(0), kDim, [&](Emitter &y, Value c) {
                  y.store(y.castFloat(y.load(input, {source, c}), f32), xs,
                          {row, c});
                });
                x.loop(x.idx(0), nDim, [&](Emitter &y, Value c) {
                  Value gradient = y.load(grad, {gradRow, c});
                  y.store(y.castFloat(gradient, f32), gs, {row, c});
                  if (bf16)
                    y.store(gradient, gsBf16, {row, c});
                });
              });
              Value xTile = q.rows(xs, start, count, kDim);
              Value gTile = q.rows(gs, start, count, nDim);
              Value uTile = q.rows(us, start, count, kDim);
              if (bf16)
                q.bf16Gemm(tb.module, q.rows(gsBf16, start, count, nDim),
                           q.rows(packedT, q.idx(0), nDim, kDim, ex), uTile,
                           0.0f);
              else
                q.sgemm(tb.module, gTile,
                        q.rows(weight, q.idx(0), kDim, nDim, ex), uTile,
                        q.f32(1), 0.0f, /*transposeB=*/true);
              if (combine)
                q.loop(start, q.add(start, count), [&](Emitter &x, Value row) {
                  Value pair = x.toIndex(x.load(perm, {row}));
                  Value dot = x.loop(x.idx(0), kDim, {x.f32(0)},
                                     [&](Emitter &y, Value c, ValueRange s) {
                                       return SmallVector<Value>{y.sum(
                                           s[0], y.mulf(y.load(xs, {row, c}),
                                                        y.load(us, {row, c})))};
                                     })[0];
                  x.store(dot, gatesGradFlat, {pair});
                  Value gate = x.load(gates, {pair});
                  x.loop(x.idx(0), nDim, [&](Emitter &y, Value c) {
                    y.store(y.mulf(gate, y.load(gs, {row, c})), gs, {row, c});
                  });
                  x.loop(x.idx(0), kDim, [&](Emitter &y, Value c) {
                    y.store(y.mulf(gate, y.load(us, {row, c})), us, {row, c});
                  });
                });
              q.sgemm(tb.module, xTile, gTile,
                      q.rows(weightGrad, q.idx(0), kDim, nDim, ex), q.f32(1),
                      1.0f, /*transposeB=*/false, /*transposeA=*/true);
            });
          });
          v.parallel({inputRows}, [&](Emitter &p, ValueRange ivs) {
            Value i = ivs[0];
            Value slots = tokenRows ? k : p.idx(1);
            p.loop(p.idx(0), slots, [&](Emitter &x, Value j) {
              Value pair = tokenRows ? x.add(x.mul(i, k), j) : i;
              Value row = x.load(position, {pair});
              x.ifThen(x.cmp(arith::CmpIPredicate::sge, row, x.idx(0)),
                       [&](Emitter &y) {
                         y.loop(y.idx(0), kDim, [&](Emitter &z, Value c) {
                           z.store(z.addf(z.load(inputGradRows, {i, c}),
                                          z.load(us, {row, c})),
                                   inputGradRows, {i, c});
                         });
                       });
            });
          });
        });

    SmallVector<Value> results = {
        tb.narrowedResult(inputGrad, op.getInputGrad().getType()),
        tb.narrowedResult(weightGrad, op.getWeightGrad().getType())};
    if (combine)
      results.push_back(tb.result(gatesGrad, op.getGatesGrad()[0].getType()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.multi_query_attention_grad
//===----------------------------------------------------------------------===//

/// In parallel over the batch (dK and dV of a sequence are written by one
/// thread), for each tile of kTileRows query rows: D = rowsum(dO * O), the
/// row log-sum-exp from a first pass over the key blocks, then per block of
/// kKeyBlock keys: P = exp(S - lse) (S recomputed), dP = dO V^T,
/// dV += P^T dO, dS = scale P (dP - D), dQ += dS K, dK += dS^T Q. K^T (scaled)
/// and V^T are transposed once for all tiles. Where Q and K (dO and V) are
/// bf16, S (dP) is a bf16 GEMM on K^T (V^T) packed once per call, as the
/// forward computes S (scaled after the GEMM); the GEMMs with P or dS stay
/// f32.
/// One tile of query rows of batch `b` in the attention backward.
struct AttentionGradTile : AttentionOperands {
  using AttentionOperands::AttentionOperands;
  // scaledKeysTransposed and valuesTransposed, or where bf16Scores
  // (bf16Products) K^T (V^T) packed per batch for moa_rt_bf16_gemm.
  Value keysT, valuesT;
  bool bf16Scores = false, bf16Products = false;
  Value dk, dv; // [S, h] views of batch b's key/value gradients
  Value b, firstRow, rows, visibleKeys;
  Value qt, ot, dot, dqt; // [rows, h] views
  Value qt16, dot16;      // the same rows of Q and dO in bf16, where read so
  Value probs, dScores, lse, delta; // per-batch scratch on the stack

  /// D = rowsum(dO * O), dQ = 0, lse = -inf.
  void start(Emitter &q) {
    q.loop(q.idx(0), rows, [&](Emitter &x, Value r) {
      Value d = x.loop(
          x.idx(0), h, {x.f32(0)}, [&](Emitter &y, Value c, ValueRange acc) {
            y.store(y.f32(0), dqt, {r, c});
            return SmallVector<Value>{
                y.sum(acc[0], y.mulf(y.load(dot, {r, c}), y.load(ot, {r, c})))};
          })[0];
      x.store(d, delta, {r});
      x.store(negInf(x), lse, {r});
    });
  }

  /// body(first, count, S) for each visible key block, S = scale Q K^T.
  void forEachBlock(Emitter &x, Value block,
                    function_ref<void(Emitter &, Value, Value, Value)> body) {
    x.loop(x.idx(0), x.ceilDiv(visibleKeys, block), [&](Emitter &y, Value blk) {
      Value first = y.mul(blk, block);
      Value count = y.min(block, y.sub(visibleKeys, first));
      Value s = y.rows(probs, y.idx(0), rows, count);
      if (bf16Scores) {
        y.bf16Gemm(module, qt16, y.rows(keysT, y.idx(0), h, keys, b), s, 0.0f,
                   y.idx(0), first);
        y.loop(y.idx(0), rows, [&](Emitter &z, Value r) {
          z.loop(z.idx(0), count, [&](Emitter &w, Value j) {
            w.store(w.mulf(scale, w.load(s, {r, j})), s, {r, j});
          });
        });
      } else {
        y.sgemm(module, qt, y.cols(keysT, first, count, h, b), s, y.f32(1),
                0.0f, /*transposeB=*/false);
      }
      body(y, first, count, s);
    });
  }

  Value valid(Emitter &y, Value r, Value first, Value count) const {
    return visibleInBlock(y, r, firstRow, k, causal, visibleKeys, first, count);
  }
  /// Key first + j is before `valid` and not padded.
  Value isVisible(Emitter &z, Value first, Value j, Value valid) const {
    Value v = z.cmp(arith::CmpIPredicate::slt, j, valid);
    if (!mask)
      return v;
    Value safe = z.select(v, z.add(first, j), z.idx(0));
    return z.andI(v, z.notI(z.load(mask, {b, safe})));
  }

  /// Pass 1 on a block: each row's log-sum-exp over its visible keys.
  void accumulateLse(Emitter &x, Value first, Value count, Value s) {
    x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
      Value v = valid(y, r, first, count);
      Value blockMax = y.loop(
          y.idx(0), v, {negInf(y)}, [&](Emitter &z, Value j, ValueRange m) {
            Value e = z.select(isVisible(z, first, j, v), z.load(s, {r, j}),
                               negInf(z));
            return SmallVector<Value>{
                arith::MaxNumFOp::create(z.b, z.loc, m[0], e)};
          })[0];
      Value old = y.load(lse, {r});
      Value top = y.maxf(old, blockMax);
      y.ifThen(
          y.cmpf(arith::CmpFPredicate::ONE, top, negInf(y)), [&](Emitter &z) {
            Value sum =
                z.loop(z.idx(0), v, {z.f32(0)},
                       [&](Emitter &w, Value j, ValueRange acc) {
                         Value ev = w.exp(w.subf(w.load(s, {r, j}), top));
                         return SmallVector<Value>{
                             w.sum(acc[0], w.select(isVisible(w, first, j, v),
                                                    ev, w.f32(0)))};
                       })[0];
            // old is -inf or a previous lse: exp(old - top).
            Value carried = z.exp(z.subf(old, top));
            z.store(z.addf(top, z.log(z.addf(sum, carried))), lse, {r});
          });
    });
  }

  /// Pass 2 on a block: P = exp(S - lse), dP = dO V^T, dV += P^T dO,
  /// dS = scale P (dP - D), dQ += dS K, dK += dS^T Q.
  void accumulateGradients(Emitter &x, Value first, Value count, Value s) {
    Value ds = x.rows(dScores, x.idx(0), rows, count);
    x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
      Value v = valid(y, r, first, count);
      Value rowLse = y.load(lse, {r});
      y.loop(y.idx(0), count, [&](Emitter &z, Value j) {
        Value pv = z.exp(z.subf(z.load(s, {r, j}), rowLse));
        z.store(z.select(isVisible(z, first, j, v), pv, z.f32(0)), s, {r, j});
      });
    });
    if (bf16Products)
      x.bf16Gemm(module, dot16, x.rows(valuesT, x.idx(0), h, keys, b), ds, 0.0f,
                 x.idx(0), first);
    else
      x.sgemm(module, dot, x.cols(valuesT, first, count, h, b), ds, x.f32(1),
              0.0f, /*transposeB=*/false);
    x.sgemm(module, s, dot, x.rows(dv, first, count, h), x.f32(1), 1.0f,
            /*transposeB=*/false, /*transposeA=*/true);
    x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
      Value d = y.load(delta, {r});
      y.loop(y.idx(0), count, [&](Emitter &z, Value j) {
        Value pv = z.load(s, {r, j});
        // Masked keys: exactly zero, whatever dP holds there.
        Value g = z.mulf(z.mulf(scale, pv), z.subf(z.load(ds, {r, j}), d));
        z.store(z.select(z.cmpf(arith::CmpFPredicate::OEQ, pv, z.f32(0)),
                         z.f32(0), g),
                ds, {r, j});
      });
    });
    x.sgemm(module, ds, x.rows(key, first, count, h, b), dqt, x.f32(1), 1.0f,
            /*transposeB=*/false);
    x.sgemm(module, ds, qt, x.rows(dk, first, count, h), x.f32(1), 1.0f,
            /*transposeB=*/false, /*transposeA=*/true);
  }
};

/// Per-batch f32 scratch on the stack ([rows] or a dynamic 2-D view).
Value stackScratch(Emitter &p, ArrayRef<int64_t> shape) {
  Type f32 = p.b.getF32Type();
  Value buffer =
      memref::AllocaOp::create(p.b, p.loc, MemRefType::get(shape, f32));
  if (shape.size() != 2)
    return buffer;
  return memref::CastOp::create(
      p.b, p.loc,
      MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, f32),
      buffer);
}

struct LowerMultiQueryAttentionGrad
    : OpRewritePattern<MultiQueryAttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MultiQueryAttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Value queryTensor = tb.toF32(op.getQuery());
    Value keyTensor = tb.toF32(op.getKey());
    // V is only read by bf16 GEMMs where dO and V are bf16 (packed V^T).
    const bool bf16Products = isBf16Product(op.getResultGrad(), op.getValue());
    Value valueTensor = bf16Products ? op.getValue() : tb.toF32(op.getValue());
    Value outTensor = tb.toF32(op.getResult());
    Value dOutTensor = tb.toF32(op.getResultGrad());
    tb.nameOperands({{queryTensor, "query"},
                     {outTensor, "result"},
                     {dOutTensor, "result_grad"}});
    Value batch = tb.dim(queryTensor, 0), length = tb.dim(queryTensor, 1);
    Value k = tb.dim(queryTensor, 2), h = tb.dim(queryTensor, 3);
    Value keys = tb.dim(keyTensor, 1);
    SmallVector<std::pair<Value, Value>> sizes;
    AttentionOperands::checkSizes(tb, keyTensor, valueTensor,
                                  op.getKeyPaddingMask(), batch, keys, h,
                                  sizes);
    const Value querySizes[] = {batch, length, k, h};
    for (Value t : {outTensor, dOutTensor})
      for (auto [i, size] : llvm::enumerate(querySizes))
        sizes.push_back({tb.dim(t, i), size});
    // The forward's log-sum-exp, where given: no first pass over the keys.
    Value givenLse;
    if (op.getLse()) {
      for (int i = 0; i < 3; ++i)
        sizes.push_back({tb.dim(op.getLse(), i), querySizes[i]});
      givenLse = tb.collapse(tb.buffer(op.getLse()), {{0}, {1, 2}});
    }

    auto perRow = [&](Value tensor) {
      return tb.collapse(tb.buffer(tensor), {{0}, {1, 2}, {3}});
    };
    Value query = perRow(queryTensor), out = perRow(outTensor),
          dOut = perRow(dOutTensor);
    Value dQuery4 = allocLike(tb, queryTensor);
    Value dQuery = tb.collapse(dQuery4, {{0}, {1, 2}, {3}});
    Value dKey = allocLike(tb, keyTensor), dValue = allocLike(tb, valueTensor);
    AttentionGradTile tile(tb, keyTensor, valueTensor, op.getKeyPaddingMask(),
                           k, h, op.getScale(), op.getCausal());

    tile.keys = keys;
    tile.bf16Scores = isBf16Product(op.getQuery(), op.getKey());
    tile.bf16Products = bf16Products;
    Value query16 = tile.bf16Scores ? perRow(op.getQuery()) : Value();
    Value dOut16 = tile.bf16Products ? perRow(op.getResultGrad()) : Value();
    tb.guard(tb.checkSizes(sizes), FailureCode::ShapeMismatch, [&](Emitter &g) {
      tile.keysT = tile.bf16Scores
                       ? packedBf16Weight(g, tb.module, tb.buffer(op.getKey()),
                                          /*transposed=*/true)
                       : tile.scaledKeysTransposed(g, batch, keys);
      tile.valuesT =
          tile.bf16Products
              ? packedBf16Weight(g, tb.module, tile.value, /*transposed=*/true)
              : tile.valuesTransposed(g, batch, keys);
      Value rowsPerBatch = g.mul(length, k);
      Value tileRows = g.idx(kTileRows), block = g.idx(kKeyBlock);
      // In parallel over the batch: dK and dV of a sequence have one writer.
      g.parallel({batch}, [&](Emitter &p, ValueRange ivs) {
        AttentionGradTile t = tile;
        t.b = ivs[0];
        t.probs = stackScratch(p, {kTileRows, kKeyBlock});
        t.dScores = stackScratch(p, {kTileRows, kKeyBlock});
        t.lse = stackScratch(p, {kTileRows});
        t.delta = stackScratch(p, {kTileRows});
        t.dk = p.rows(dKey, p.idx(0), keys, h, t.b);
        t.dv = p.rows(dValue, p.idx(0), keys, h, t.b);
        p.loop(p.idx(0), keys, [&](Emitter &x, Value s) {
          x.loop(x.idx(0), h, [&](Emitter &y, Value c) {
            y.store(y.f32(0), t.dk, {s, c});
            y.store(y.f32(0), t.dv, {s, c});
          });
        });
        p.loop(p.idx(0), p.ceilDiv(rowsPerBatch, tileRows),
               [&](Emitter &q, Value ti) {
                 t.firstRow = q.mul(ti, tileRows);
                 t.rows = q.min(tileRows, q.sub(rowsPerBatch, t.firstRow));
                 t.visibleKeys =
                     visibleKeys(q, t.firstRow, t.rows, k, keys, t.causal);
                 t.qt = q.rows(query, t.firstRow, t.rows, h, t.b);
                 t.ot = q.rows(out, t.firstRow, t.rows, h, t.b);
                 t.dot = q.rows(dOut, t.firstRow, t.rows, h, t.b);
                 t.dqt = q.rows(dQuery, t.firstRow, t.rows, h, t.b);
                 if (query16)
                   t.qt16 = q.rows(query16, t.firstRow, t.rows, h, t.b);
                 if (dOut16)
                   t.dot16 = q.rows(dOut16, t.firstRow, t.rows, h, t.b);
                 t.start(q);
                 if (givenLse)
                   q.loop(q.idx(0), t.rows, [&](Emitter &x, Value r) {
                     x.store(x.load(givenLse, {t.b, x.add(t.firstRow, r)}),
                             t.lse, {r});
                   });
                 else
                   t.forEachBlock(
                       q, block,
                       [&](Emitter &x, Value first, Value count, Value s) {
                         t.accumulateLse(x, first, count, s);
                       });
                 t.forEachBlock(
                     q, block,
                     [&](Emitter &x, Value first, Value count, Value s) {
                       t.accumulateGradients(x, first, count, s);
                     });
               });
      });
    });

    rewriter.replaceOp(
        op, {tb.narrowedResult(dQuery4, op.getQueryGrad().getType()),
             tb.narrowedResult(dKey, op.getKeyGrad().getType()),
             tb.narrowedResult(dValue, op.getValueGrad().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Weight gradients of row projections (linalg.contract as
// moa-generate-gradients emits it): out[c, n] = init + sum_{b,t} x[b,t,c]
// g[b,t,n].
//===----------------------------------------------------------------------===//

/// out[c0:c1] = init[c0:c1] + (x[:, c0:c1]^T g) for bf16 x [B, T, C] and g
/// [B, T, N], as its transpose sum_b g[b]^T x[b][:, c0:c1]: bf16 GEMMs on
/// g^T (transposed per batch) and x packed per batch (pairs of rows along
/// T), into dWT [N, C] f32, read back transposed. Packing x costs one pass
/// over it, where x^T would be a transpose of the larger operand. `batch`
/// is 0 where the sizes disagree: then only init is copied.
struct Bf16WeightGradient {
  ModuleOp module;
  Value batch, length, cDim, nDim;
  Value gT, xPacked, dWT; // [B, N, T] bf16, [B, T, C] packed, [N, C] f32

  Bf16WeightGradient(TensorBoundary &tb, Value x, Value g, Value batch,
                     Value length, Value cDim, Value nDim)
      : module(tb.module), batch(batch), length(length), cDim(cDim),
        nDim(nDim) {
    Emitter &e = tb.e;
    gT = transposedPerBatch(e, g, batch, length, nDim);
    xPacked = packedBf16Weight(e, module, x);
    dWT = e.alloc(e.b.getF32Type(), {nDim, cDim});
    fill(e, flatten(tb, dWT), e.mul(nDim, cDim), e.f32(0)); // for B T = 0
  }

  void chunk(Emitter &p, Value init, Value out, Value first, Value count) {
    Value block = p.cols(dWT, first, count, nDim);
    p.loop(p.idx(0), batch, [&](Emitter &x, Value b) {
      // The first batch writes the block, the others add to it.
      x.ifThen(
          x.cmp(arith::CmpIPredicate::eq, b, x.idx(0)),
          [&](Emitter &y) { product(y, b, block, 0.0f, first); },
          [&](Emitter &y) { product(y, b, block, 1.0f, first); });
    });
    p.loop(first, p.add(first, count), [&](Emitter &y, Value c) {
      y.loop(y.idx(0), nDim, [&](Emitter &z, Value n) {
        z.store(z.addf(z.load(init, {c, n}), z.load(dWT, {n, c})), out, {c, n});
      });
    });
  }

  void product(Emitter &y, Value b, Value block, float beta, Value first) {
    y.bf16Gemm(module, y.rows(gT, y.idx(0), nDim, length, b),
               y.rows(xPacked, y.idx(0), length, cDim, b), block, beta,
               y.idx(0), first);
  }
};

struct LowerWeightGradient : OpRewritePattern<linalg::ContractOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!onTensorsOrPlainBuffers(op, /*orBuffers=*/true) ||
        op.getInputs().size() != 2 || op.getOutputs().size() != 1)
      return rewriter.notifyMatchFailure(op, "not a contraction");
    SmallVector<AffineMap> expected = weightGradientMaps(op.getContext());
    if (op.getIndexingMapsArray() != ArrayRef<AffineMap>(expected))
      return rewriter.notifyMatchFailure(op, "not a weight gradient");
    auto initType = cast<ShapedType>(op.getOutputs()[0].getType());
    if (!initType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not an f32 contraction");

    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const bool bf16 = isBf16Product(op.getInputs()[0], op.getInputs()[1]);
    auto operand = [&](Value v) { return bf16 ? v : tb.toF32(v); };
    Value xTensor = operand(op.getInputs()[0]);
    Value gTensor = operand(op.getInputs()[1]);
    Value initTensor = op.getOutputs()[0];
    Value batch = tb.dim(xTensor, 0), length = tb.dim(xTensor, 1);
    Value cDim = tb.dim(initTensor, 0), nDim = tb.dim(initTensor, 1);
    Value rows = tb.checkedCount({{tb.dim(gTensor, 0), batch},
                                  {tb.dim(gTensor, 1), length},
                                  {tb.dim(xTensor, 2), cDim},
                                  {tb.dim(gTensor, 2), nDim}},
                                 e.mul(batch, length));
    Value x = tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}});
    Value g = tb.collapse(tb.buffer(gTensor), {{0, 1}, {2}});
    Value init = tb.buffer(initTensor);
    Value out = e.alloc(rewriter.getF32Type(), {cDim, nDim});
    Value chunk = e.idx(kRowChunk);
    std::optional<Bf16WeightGradient> bf16Product;
    if (bf16) // no batch (nothing read) where the sizes disagree
      bf16Product.emplace(
          tb, tb.buffer(xTensor), tb.buffer(gTensor),
          e.select(e.cmp(arith::CmpIPredicate::ne, rows, e.idx(0)), batch,
                   e.idx(0)),
          length, cDim, nDim);
    // In parallel over chunks of output rows c: out[c0:c1] = x[:, c0:c1]^T g.
    e.parallel({e.ceilDiv(cDim, chunk)}, [&](Emitter &p, ValueRange ivs) {
      Value first = p.mul(ivs[0], chunk);
      Value count = p.min(chunk, p.sub(cDim, first));
      if (bf16Product)
        return bf16Product->chunk(p, init, out, first, count);
      p.loop(first, p.add(first, count), [&](Emitter &y, Value r) {
        y.loop(y.idx(0), nDim, [&](Emitter &z, Value col) {
          z.store(z.load(init, {r, col}), out, {r, col});
        });
      });
      p.sgemm(tb.module, p.cols(x, first, count, rows), g,
              p.rows(out, first, count, nDim), p.f32(1), 1.0f,
              /*transposeB=*/false, /*transposeA=*/true);
    });
    tb.replaceDestinationOp(rewriter, op, out, initTensor);
    return success();
  }
};

} // namespace

void mlir::moa::loops::populateBackwardLoopPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerRouteGrad, LowerGroupedMatmulGrad,
               LowerMultiQueryAttentionGrad, LowerWeightGradient>(
      patterns.getContext());
}
