//===- Primitives.cpp - The forward primitives to loops -------------------===//
//
// moa.route, moa.dispatch, moa.grouped_matmul, moa.multi_query_attention and
// the row projections as scf/memref/arith/math code on buffers. Independent
// work (tokens, tiles of 128 rows) is an scf.parallel; plain GEMMs on 2-D
// views call moa_rt_sgemm (OpenBLAS); everything else is generated here.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "passes/LinalgBuilders.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

//===----------------------------------------------------------------------===//
// moa.route
//===----------------------------------------------------------------------===//

/// Routes token (b, t): top-k selection on the logits, then the gates.
struct TokenRouting {
  Value logits, indices, gates; // [B, T, E] f32; [B, T, k] i32 and f32
  Value experts, k, b, t;
  int64_t topK; // k, as a constant
  bool topkSoftmax, renormalize;

  /// Select on the logits (softmax is monotonic) in one pass over the
  /// experts, the k best so far carried best first: an expert takes slot j
  /// when it beats it strictly (so ties keep the lower index) or slot j is
  /// still empty, and what was there moves down. NaN ranks below every
  /// number (as on the GPU).
  void selectTopK(Emitter &r) const {
    SmallVector<Value> init(topK, r.idx(-1)); // indices, then their logits
    init.append(topK, negInf(r));
    SmallVector<Value> best = r.loop(
        r.idx(0), experts, init, [&](Emitter &x, Value expert, ValueRange acc) {
          Value raw = x.load(logits, {b, t, expert});
          Value v = x.select(x.cmpf(arith::CmpFPredicate::UNO, raw, raw),
                             negInf(x), raw);
          SmallVector<Value> next(2 * topK);
          Value aboveBeaten;
          for (int64_t j = 0; j < topK; ++j) {
            Value beaten =
                x.orI(x.cmp(arith::CmpIPredicate::slt, acc[j], x.idx(0)),
                      x.cmpf(arith::CmpFPredicate::OGT, v, acc[topK + j]));
            next[j] = x.select(beaten, expert, acc[j]);
            next[topK + j] = x.select(beaten, v, acc[topK + j]);
            if (aboveBeaten) {
              next[j] = x.select(aboveBeaten, acc[j - 1], next[j]);
              next[topK + j] =
                  x.select(aboveBeaten, acc[topK + j - 1], next[topK + j]);
            }
            aboveBeaten = beaten;
          }
          return next;
        });
    for (int64_t j = 0; j < topK; ++j)
      r.store(r.toI32(best[j]), indices, {b, t, r.idx(j)});
  }

  Value selectedLogit(Emitter &x, Value slot) const {
    return x.load(logits, {b, t, x.toIndex(x.load(indices, {b, t, slot}))});
  }

  /// sum over [0, n) of exp(logit(i) - reference).
  Value expSum(Emitter &r, Value n, Value reference,
               function_ref<Value(Emitter &, Value)> logit) const {
    return r.loop(r.idx(0), n, {r.f32(0)},
                  [&](Emitter &x, Value i, ValueRange sum) {
                    return SmallVector<Value>{
                        x.sum(sum[0], x.exp(x.subf(logit(x, i), reference)))};
                  })[0];
  }

  /// Gates: softmax over all E (official) or over the k selected, then the
  /// optional renormalisation.
  void writeGates(Emitter &r) const {
    auto selected = [&](Emitter &x, Value slot) {
      return selectedLogit(x, slot);
    };
    // The best selected logit is the maximum (with a NaN logit the gates
    // are NaN either way: it is in the sum over all E).
    Value reference = selectedLogit(r, r.idx(0));
    Value denominator =
        topkSoftmax
            ? expSum(r, k, reference, selected)
            : expSum(r, experts, reference, [&](Emitter &x, Value expert) {
                return x.load(logits, {b, t, expert});
              });
    Value total = r.loop(
        r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value slot, ValueRange sum) {
          Value gate = x.divf(x.exp(x.subf(selectedLogit(x, slot), reference)),
                              denominator);
          x.store(gate, gates, {b, t, slot});
          return SmallVector<Value>{x.addf(sum[0], gate)};
        })[0];
    if (renormalize)
      r.ifThen(r.cmpf(arith::CmpFPredicate::OGT, total, r.f32(0)),
               [&](Emitter &x) {
                 x.loop(x.idx(0), k, [&](Emitter &y, Value slot) {
                   y.store(y.divf(y.load(gates, {b, t, slot}), total), gates,
                           {b, t, slot});
                 });
               });
  }

  /// A padded token: index -1 (never dispatched) and gate 0 in every slot.
  void pad(Emitter &x) const {
    x.loop(x.idx(0), k, [&](Emitter &y, Value slot) {
      y.store(arith::ConstantIntOp::create(y.b, y.loc, -1, 32), indices,
              {b, t, slot});
      y.store(y.f32(0), gates, {b, t, slot});
    });
  }
};

struct LowerRoute : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value logitsTensor = op.getLogits();
    tb.nameOperands({{logitsTensor, "logits"},
                     {op.getQueryPaddingMask(), "query_padding_mask"}});
    Value batch = tb.dim(logitsTensor, 0), length = tb.dim(logitsTensor, 1);
    TokenRouting routing;
    routing.experts = tb.dim(logitsTensor, 2);
    routing.topK = op.getK();
    routing.k = e.idx(routing.topK);
    routing.logits = tb.buffer(logitsTensor);
    Value mask = op.getQueryPaddingMask() ? tb.buffer(op.getQueryPaddingMask())
                                          : Value();
    // k <= E (E may be dynamic) and the mask is [B, T].
    Value ok = e.cmp(arith::CmpIPredicate::sle, routing.k, routing.experts);
    if (mask)
      ok = e.andI(
          ok, tb.checkSizes({{tb.dim(op.getQueryPaddingMask(), 0), batch},
                             {tb.dim(op.getQueryPaddingMask(), 1), length}}));
    routing.indices =
        e.alloc(rewriter.getI32Type(), {batch, length, routing.k});
    routing.gates = e.alloc(rewriter.getF32Type(), {batch, length, routing.k});
    routing.topkSoftmax = op.getGating() == Gating::TopKSoftmax;
    routing.renormalize = op.getRenormalize();

    tb.guard(ok, FailureCode::ShapeMismatch, [&](Emitter &g) {
      g.parallel(
          {batch, length},
          [&](Emitter &p, ValueRange bt) {
            TokenRouting token = routing;
            token.b = bt[0];
            token.t = bt[1];
            auto route = [&](Emitter &r) {
              token.selectTopK(r);
              token.writeGates(r);
            };
            if (!mask)
              return route(p);
            p.ifThen(
                p.load(mask, {token.b, token.t}),
                [&](Emitter &x) { token.pad(x); }, route);
          },
          kSerialRows);
    });
    RecordRoutingOp::create(rewriter, e.loc, routing.indices, routing.experts);
    rewriter.replaceOp(op,
                       {tb.result(routing.indices, op.getIndices().getType()),
                        tb.result(routing.gates, op.getGates().getType())});
    return success();
  }
};

/// moa.record_routing on the CPU: the runtime call, at once.
struct LowerRecordRouting : OpRewritePattern<RecordRoutingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RecordRoutingOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e(rewriter, op.getLoc());
    e.recordRouting(op->getParentOfType<ModuleOp>(), op.getIndices(),
                    op.getNumExperts());
    rewriter.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.dispatch: a stable counting sort of the pairs by expert.
//===----------------------------------------------------------------------===//

struct LowerDispatch : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value indicesTensor = op.getIndices();
    Value pairs =
        e.mul(e.mul(tb.dim(indicesTensor, 0), tb.dim(indicesTensor, 1)),
              tb.dim(indicesTensor, 2));
    Value flat = tb.collapse(tb.buffer(indicesTensor), {{0, 1, 2}});
    const int64_t numExperts = op.getNumExperts();
    Value experts = e.idx(numExperts);
    Value groups = e.idx(numExperts + 1); // the last one holds index -1
    Value permutation = e.alloc(rewriter.getI32Type(), {pairs});
    Value offsets = e.alloc(rewriter.getI32Type(), {groups});
    Value counts = e.alloc(rewriter.getIndexType(), {groups});
    e.loop(e.idx(0), groups,
           [&](Emitter &x, Value g) { x.store(x.idx(0), counts, {g}); });

    auto groupOf = [&](Emitter &x, Value pair) {
      return dispatchGroup(x, flat, pair, experts);
    };
    Value bad = e.loop(
        e.idx(0), pairs, {e.cmp(arith::CmpIPredicate::ne, e.idx(0), e.idx(0))},
        [&](Emitter &x, Value pair, ValueRange any) {
          auto [group, invalid] = groupOf(x, pair);
          x.store(x.add(x.load(counts, {group}), x.idx(1)), counts, {group});
          return SmallVector<Value>{x.orI(any[0], invalid)};
        })[0];
    // Exclusive scan: offsets, and counts becomes each group's cursor.
    e.loop(e.idx(0), groups, {e.idx(0)},
           [&](Emitter &x, Value g, ValueRange start) {
             x.store(x.toI32(start[0]), offsets, {g});
             Value count = x.load(counts, {g});
             x.store(start[0], counts, {g});
             return SmallVector<Value>{x.add(start[0], count)};
           });
    e.loop(e.idx(0), pairs, [&](Emitter &x, Value pair) {
      Value group = groupOf(x, pair).first;
      Value position = x.load(counts, {group});
      x.store(x.toI32(pair), permutation, {position});
      x.store(x.add(position, x.idx(1)), counts, {group});
    });
    e.ifThen(bad, [&](Emitter &x) {
      x.fail(tb.module, FailureCode::DispatchIndexOutOfRange);
    });
    rewriter.replaceOp(op,
                       {tb.result(permutation, op.getPermutation().getType()),
                        tb.result(offsets, op.getOffsets().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.grouped_matmul
//===----------------------------------------------------------------------===//

/// The dispatched pairs are cut into tiles of at most kTileRows rows of one
/// expert (the per-tile expert map). In parallel over tiles: gather the
/// tile's rows into expert order (the gather is the packing of the GEMM's
/// left operand: widened to f32 as they are copied, or kept in bf16 where
/// input and weight are bf16 and the weights are packed for
/// moa_rt_bf16_gemm first), one GEMM with the expert's weight. Then in parallel
/// over output rows: each pair (scatter) or token (gate-weighted combine, slots
/// summed in order) reads its product rows back, so no two threads write the
/// same row, and narrows the row into a bf16 or f16 result.
struct LowerGroupedMatmul : OpRewritePattern<GroupedMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!GroupedRows::isI32(op.getPermutation(), op.getOffsets()))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    const bool bf16 = isBf16Product(op.getInput(), op.getWeight());
    GroupedRows g(tb, op.getInput(), op.getWeight(), op.getPermutation(),
                  op.getOffsets(), op.getGates(),
                  bf16 ? GroupedRows::Widen::Nothing
                       : GroupedRows::Widen::Weight);
    const bool combine = g.combine, tokenRows = g.tokenRows;
    Value batch = g.batch, length = g.length, tokens = g.tokens;
    Value kDim = g.kDim, nDim = g.nDim, numExperts = g.numExperts;
    Value k = g.slots(tb, op.getResult());
    Value pairs = e.mul(tokens, k);
    Value input = g.input, weight = g.weight, perm = g.perm, off = g.off,
          gates = g.gates;
    Value outRows = combine ? tokens : pairs;
    // The result in its own shape, [B, T, N] or [B, T, k, N], written
    // through a 2-D view [rows, N]: in f32, and each row then narrowed into
    // the result where that is bf16 or f16.
    SmallVector<Value> resultSizes = {batch, length};
    if (!combine)
      resultSizes.push_back(k);
    resultSizes.push_back(nDim);
    Value result4 = e.alloc(f32, resultSizes);
    Value out = tb.collapse(result4, GroupedRows::rowGroups(combine));
    Type resultType = getElementTypeOrSelf(op.getResult().getType());
    Value narrow4 = result4, narrowOut = out;
    if (resultType != f32) {
      narrow4 = e.alloc(resultType, resultSizes);
      narrowOut = tb.collapse(narrow4, GroupedRows::rowGroups(combine));
    }

    // Validate sizes and the grouping before any indexed access.
    Value sizesOk = tb.checkSizes(g.sizeChecks(tb, k));
    Value permOk = g.groupingSizesOk(tb, pairs);
    withPairPositions(
        tb, e.andI(sizesOk, permOk), perm, off, numExperts, pairs,
        [&](Emitter &v, Value position, Value dispatched) {
          auto offset = [&](Emitter &x, Value i) {
            return offsetAt(x, off, i);
          };
          Value tile = v.idx(kTileRows);
          Value numTiles = v.loop(
              v.idx(0), numExperts, {v.idx(0)},
              [&](Emitter &x, Value ex, ValueRange acc) {
                Value rows =
                    x.sub(offset(x, x.add(ex, x.idx(1))), offset(x, ex));
                return SmallVector<Value>{x.add(acc[0], x.ceilDiv(rows, tile))};
              })[0];
          // tiles[i] = (expert, first row, rows).
          Value tiles = v.alloc(rewriter.getIndexType(), {numTiles, v.idx(3)});
          v.loop(v.idx(0), numExperts, {v.idx(0)},
                 [&](Emitter &x, Value ex, ValueRange next) {
                   Value first = offset(x, ex);
                   Value rows = x.sub(offset(x, x.add(ex, x.idx(1))), first);
                   Value count = x.ceilDiv(rows, tile);
                   x.loop(x.idx(0), count, [&](Emitter &y, Value i) {
                     Value slot = y.add(next[0], i);
                     Value start = y.mul(i, tile);
                     y.store(ex, tiles, {slot, y.idx(0)});
                     y.store(y.add(first, start), tiles, {slot, y.idx(1)});
                     y.store(y.min(tile, y.sub(rows, start)), tiles,
                             {slot, y.idx(2)});
                   });
                   return SmallVector<Value>{x.add(next[0], count)};
                 });
          Type sortedType = bf16 ? rewriter.getBF16Type() : f32;
          Value sorted = v.alloc(sortedType, {dispatched, kDim});
          Value products = v.alloc(f32, {dispatched, nDim});
          Value packed =
              bf16 ? packedBf16Weight(v, tb.module, weight) : Value();
          auto tileProduct = [&](Emitter &p, ValueRange ivs) {
            Value ex = p.load(tiles, {ivs[0], p.idx(0)});
            Value first = p.load(tiles, {ivs[0], p.idx(1)});
            Value rows = p.load(tiles, {ivs[0], p.idx(2)});
            p.loop(p.idx(0), rows, [&](Emitter &x, Value r) {
              Value row = x.add(first, r);
              Value pair = x.toIndex(x.load(perm, {row}));
              Value source = tokenRows ? x.div(pair, k) : pair;
              x.loop(x.idx(0), kDim, [&](Emitter &y, Value c) {
                y.store(y.castFloat(y.load(input, {source, c}), sortedType),
                        sorted, {row, c});
              });
            });
            Value tileRows = p.rows(sorted, first, rows, kDim);
            Value tileProducts = p.rows(products, first, rows, nDim);
            if (bf16)
              return p.bf16Gemm(tb.module, tileRows,
                                p.rows(packed, p.idx(0), kDim, nDim, ex),
                                tileProducts, 0.0f);
            // With the static schedule a thread's next tile is the next
            // one: its expert's weight streams in while this tile computes.
            Value next =
                p.min(p.add(ivs[0], p.idx(1)), p.sub(numTiles, p.idx(1)));
            Value nextEx = p.load(tiles, {next, p.idx(0)});
            p.sgemm(tb.module, tileRows,
                    p.rows(weight, p.idx(0), kDim, nDim, ex), tileProducts,
                    p.f32(1), 0.0f, false, false,
                    p.rows(weight, p.idx(0), kDim, nDim, nextEx));
          };
          // Tiles of a few rows (a decoding step) run on this thread.
          v.parallel({numTiles}, tileProduct, kSerialRows, dispatched);
          v.parallel(
              {outRows},
              [&](Emitter &p, ValueRange ivs) {
                Value i = ivs[0];
                p.loop(p.idx(0), nDim, [&](Emitter &x, Value c) {
                  x.store(x.f32(0), out, {i, c});
                });
                Value slots = combine ? k : p.idx(1);
                p.loop(p.idx(0), slots, [&](Emitter &x, Value j) {
                  Value pair = combine ? x.add(x.mul(i, k), j) : i;
                  Value row = x.load(position, {pair});
                  x.ifThen(
                      x.cmp(arith::CmpIPredicate::sge, row, x.idx(0)),
                      [&](Emitter &y) {
                        Value gate = combine ? y.load(gates, {pair}) : y.f32(1);
                        y.loop(y.idx(0), nDim, [&](Emitter &z, Value c) {
                          Value product = arith::MulFOp::create(
                              z.b, z.loc, gate, z.load(products, {row, c}));
                          z.store(arith::AddFOp::create(
                                      z.b, z.loc, z.load(out, {i, c}), product),
                                  out, {i, c});
                        });
                      });
                });
                if (narrow4 != result4)
                  p.convertRows(out, narrowOut, i, p.idx(1), nDim);
              },
              kSerialRows);
        });

    rewriter.replaceOp(op, tb.result(narrow4, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.multi_query_attention
//===----------------------------------------------------------------------===//

/// In parallel over (batch, tile of kTileRows query rows), flash-style: for
/// each block of kKeyBlock keys, scores = Q (scale K^T) for the tile (K^T
/// transposed once for all tiles; the k slots of a token share K and V), an
/// online softmax (running maximum and sum per row, earlier output rescaled),
/// out += P V. Memory per tile is one block of scores on the stack, whatever S
/// is. A causal tile stops at its last visible key; a row with no visible key
/// is all zeros.
///
/// One tile of (token, slot) query rows of batch `b` in the blocked online
/// softmax: per key block, scores by a GEMM, the running maximum and sum of
/// each row updated, and P V accumulated into the output rows by a GEMM.
struct AttentionTile : AttentionOperands {
  using AttentionOperands::AttentionOperands;
  /// scaledKeysTransposed; or, for a bf16 query and key (`bf16Scores`),
  /// K^T packed per batch for moa_rt_bf16_gemm, the scores
  /// scaled after their GEMM. P V stays in f32: P rounded to bf16 (as
  /// FlashAttention does) would be a rounding point that moa-spec.md's
  /// mixed-precision gradients do not have (measured: tiny_lm's bf16
  /// gradients then miss the rounded reference by 1-9%).
  Value keysT;
  bool bf16Scores = false;
  Value b, firstRow, rows, visibleKeys;
  Value q, o;                   // [rows, h] views of query and output
  Value scores, runMax, runSum; // per-tile scratch on the stack
  Value lse;                    // [B, T k] row log-sum-exp, or null

  /// Scratch allocation and zero output rows.
  void start(Emitter &p) {
    Type f32 = p.b.getF32Type();
    scores = memref::CastOp::create(
        p.b, p.loc,
        MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, f32),
        memref::AllocaOp::create(p.b, p.loc,
                                 MemRefType::get({kTileRows, kKeyBlock}, f32)));
    runMax =
        memref::AllocaOp::create(p.b, p.loc, MemRefType::get({kTileRows}, f32));
    runSum =
        memref::AllocaOp::create(p.b, p.loc, MemRefType::get({kTileRows}, f32));
    p.loop(p.idx(0), rows, [&](Emitter &x, Value r) {
      x.store(negInf(x), runMax, {r});
      x.store(x.f32(0), runSum, {r});
      zeroRow(x, o, r, x.idx(0), h);
    });
  }

  /// Keys [first, first + count): scores, softmax update, P V.
  void addKeyBlock(Emitter &x, Value first, Value count) {
    Value s = x.rows(scores, x.idx(0), rows, count);
    if (bf16Scores)
      x.bf16Gemm(module, q, x.rows(keysT, x.idx(0), h, keys, b), s, 0.0f,
                 x.idx(0), first);
    else
      x.sgemm(module, q, x.cols(keysT, first, count, h, b), s, x.f32(1), 0.0f,
              /*transposeB=*/false);
    x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
      if (bf16Scores)
        y.loop(y.idx(0), count, [&](Emitter &z, Value j) {
          z.store(z.mulf(scale, z.load(s, {r, j})), s, {r, j});
        });
      updateRow(y, r, first, count, s);
    });
    x.sgemm(module, s, x.rows(value, first, count, h, b), o, x.f32(1), 1.0f,
            /*transposeB=*/false);
  }

  /// buffer[r, j] = 0 for j in [from, to).
  static void zeroRow(Emitter &x, Value buffer, Value r, Value from, Value to) {
    auto zero = [&](Emitter &y, Value j) { y.store(y.f32(0), buffer, {r, j}); };
    x.loop(from, to, zero);
  }

  /// s[r, j] = mask(j) ? 0 : v, or v without a padding mask.
  Value kept(Emitter &z, Value j, Value first, Value v, Value otherwise) const {
    if (!mask)
      return v;
    Value padded = z.load(mask, {b, z.add(first, j)});
    return z.select(padded, otherwise, v);
  }

  /// Row r of a score block: its visible keys' weights replace the scores,
  /// and what earlier blocks accumulated is rescaled to the new maximum.
  void updateRow(Emitter &y, Value r, Value first, Value count, Value s) {
    // Keys first + [0, valid) are visible to this row; the rest of the block
    // only gets zeros. Inside, only the padding mask remains to select on,
    // so without one the loops are plain reductions that LLVM vectorises.
    Value valid =
        visibleInBlock(y, r, firstRow, k, causal, visibleKeys, first, count);
    Value blockMax = y.loop(
        y.idx(0), valid, {negInf(y)}, [&](Emitter &z, Value j, ValueRange m) {
          Value v = kept(z, j, first, z.load(s, {r, j}), negInf(z));
          return SmallVector<Value>{
              arith::MaxNumFOp::create(z.b, z.loc, m[0], v)};
        })[0];
    zeroRow(y, s, r, valid, count);
    Value oldMax = y.load(runMax, {r});
    Value newMax = arith::MaximumFOp::create(y.b, y.loc, oldMax, blockMax);
    y.ifThen(
        y.cmpf(arith::CmpFPredicate::OEQ, newMax, negInf(y)),
        [&](Emitter &z) { // nothing visible yet: this block adds 0
          zeroRow(z, s, r, z.idx(0), valid);
        },
        [&](Emitter &z) { rescaleRow(z, r, first, valid, s, oldMax, newMax); });
  }

  /// Row r's weights exp(s - newMax) into s, its running sum and output
  /// rescaled by exp(oldMax - newMax).
  void rescaleRow(Emitter &z, Value r, Value first, Value valid, Value s,
                  Value oldMax, Value newMax) {
    Value sum = z.loop(z.idx(0), valid, {z.f32(0)},
                       [&](Emitter &w, Value j, ValueRange acc) {
                         Value d = w.subf(w.load(s, {r, j}), newMax);
                         Value weight = kept(w, j, first, w.exp(d), w.f32(0));
                         w.store(weight, s, {r, j});
                         return SmallVector<Value>{w.sum(acc[0], weight)};
                       })[0];
    Value alpha = z.select(z.cmpf(arith::CmpFPredicate::OEQ, oldMax, negInf(z)),
                           z.f32(0), z.exp(z.subf(oldMax, newMax)));
    z.store(z.addf(z.mulf(z.load(runSum, {r}), alpha), sum), runSum, {r});
    z.store(newMax, runMax, {r});
    z.loop(z.idx(0), h, [&](Emitter &w, Value c) {
      w.store(w.mulf(w.load(o, {r, c}), alpha), o, {r, c});
    });
  }

  /// Normalise. A row that never saw a visible key is set to zero, not
  /// scaled by zero: the P V products may have met inf or NaN in padded
  /// value rows (0 * inf), and the spec wants zeros for such rows. A NaN
  /// sum (a NaN score among the visible keys) stays NaN, as IEEE says.
  /// The log-sum-exp (with_lse) is max + log(sum), -inf for such a row.
  void finish(Emitter &p) {
    p.loop(p.idx(0), rows, [&](Emitter &x, Value r) {
      Value sum = x.load(runSum, {r});
      Value seen = x.cmpf(arith::CmpFPredicate::UGT, sum, x.f32(0));
      Value inverse = x.divf(x.f32(1), sum);
      if (lse)
        x.store(
            x.select(seen, x.addf(x.load(runMax, {r}), x.log(sum)), negInf(x)),
            lse, {b, x.add(firstRow, r)});
      x.loop(x.idx(0), h, [&](Emitter &y, Value c) {
        Value scaled = y.mulf(y.load(o, {r, c}), inverse);
        y.store(y.select(seen, scaled, y.f32(0)), o, {r, c});
      });
    });
  }
};

struct LowerMultiQueryAttention : OpRewritePattern<MultiQueryAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MultiQueryAttentionOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    // A bf16 query and key stay bf16 for the scores' moa_rt_bf16_gemm; the
    // rest is widened.
    const bool bf16Scores = isBf16Product(op.getQuery(), op.getKey());
    auto operand = [&](Value v) { return bf16Scores ? v : tb.toF32(v); };
    Value queryTensor = operand(op.getQuery());
    Value keyTensor = operand(op.getKey());
    Value valueTensor = tb.toF32(op.getValue());
    tb.nameOperands({{queryTensor, "query"}});
    Value batch = tb.dim(queryTensor, 0), length = tb.dim(queryTensor, 1);
    Value k = tb.dim(queryTensor, 2), h = tb.dim(queryTensor, 3);
    Value keys = tb.dim(keyTensor, 1);
    SmallVector<std::pair<Value, Value>> sizes;
    AttentionOperands::checkSizes(tb, keyTensor, valueTensor,
                                  op.getKeyPaddingMask(), batch, keys, h,
                                  sizes);
    Value result4 = e.alloc(rewriter.getF32Type(), {batch, length, k, h});
    Value query = tb.collapse(tb.buffer(queryTensor), {{0}, {1, 2}, {3}});
    Value out = tb.collapse(result4, {{0}, {1, 2}, {3}});
    AttentionTile tile(tb, keyTensor, valueTensor, op.getKeyPaddingMask(), k, h,
                       op.getScale(), op.getCausal());
    Value lse3 = op.getWithLse()
                     ? e.alloc(rewriter.getF32Type(), {batch, length, k})
                     : Value();
    if (lse3)
      tile.lse = tb.collapse(lse3, {{0}, {1, 2}});

    tb.guard(tb.checkSizes(sizes), FailureCode::ShapeMismatch, [&](Emitter &g) {
      tile.keys = keys;
      tile.bf16Scores = bf16Scores;
      tile.keysT = bf16Scores ? packedBf16Weight(g, tb.module, tile.key,
                                                 /*transposed=*/true)
                              : tile.scaledKeysTransposed(g, batch, keys);
      Value rowsPerBatch = g.mul(length, k);
      Value tileRows = g.idx(kTileRows), block = g.idx(kKeyBlock);
      g.parallel({batch, g.ceilDiv(rowsPerBatch, tileRows)},
                 [&](Emitter &p, ValueRange ivs) {
                   AttentionTile t = tile;
                   t.b = ivs[0];
                   t.firstRow = p.mul(ivs[1], tileRows);
                   t.rows = p.min(tileRows, p.sub(rowsPerBatch, t.firstRow));
                   t.visibleKeys =
                       visibleKeys(p, t.firstRow, t.rows, k, keys, t.causal);
                   t.q = p.rows(query, t.firstRow, t.rows, h, t.b);
                   t.o = p.rows(out, t.firstRow, t.rows, h, t.b);
                   t.start(p);
                   p.loop(p.idx(0), p.ceilDiv(t.visibleKeys, block),
                          [&](Emitter &x, Value blk) {
                            Value first = x.mul(blk, block);
                            t.addKeyBlock(
                                x, first,
                                x.min(block, x.sub(t.visibleKeys, first)));
                          });
                   t.finish(p);
                 });
    });

    SmallVector<Value> results = {
        tb.narrowedResult(result4, op.getResult().getType())};
    if (lse3)
      results.push_back(tb.result(lse3, op.getLse().getType()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Row projections (linalg.contract as moa-decompose emits it)
//===----------------------------------------------------------------------===//

/// One GEMM of projectRowTiles: out[r, :] (+)= x[r, :] w, with out f32;
/// where `narrowed` is given (a bf16 or f16 buffer of out's shape), each
/// tile's rows of out are narrowed into it after the GEMM.
struct RowProduct {
  Value w, out, narrowed = {};
};

/// The `products` over `rows` rows of x [rows, K], in parallel over tiles of
/// rows, one GEMM per weight on each tile (so a tile of x is read while it
/// is in cache). A bf16 weight with a bf16 x is packed once and multiplied
/// in bf16 (moa_rt_bf16_gemm); for the other weights an x not in f32 is
/// widened a tile at a time into f32 scratch. `prologue` runs first on each
/// tile (first row, row count); `beta` 1 accumulates into out.
void projectRowTiles(
    TensorBoundary &tb, Value x, Value rows, Value kDim,
    ArrayRef<RowProduct> products, float beta,
    function_ref<void(Emitter &, Value, Value)> prologue = {}) {
  Emitter &e = tb.e;
  Type f32 = e.b.getF32Type();
  // Each weight packed for moa_rt_bf16_gemm (bf16 x and w), or null.
  SmallVector<Value> packed;
  for (const RowProduct &product : products)
    packed.push_back(isBf16Product(x, product.w)
                         ? packedBf16Weight(e, tb.module, product.w)
                         : Value());
  bool widen = cast<MemRefType>(x.getType()).getElementType() != f32 &&
               llvm::is_contained(packed, Value());
  Value wide = widen ? e.alloc(f32, {rows, kDim}) : x;
  Value tile = e.idx(kTileRows);
  e.parallel({e.ceilDiv(rows, tile)}, [&](Emitter &p, ValueRange ivs) {
    Value first = p.mul(ivs[0], tile);
    Value count = p.min(tile, p.sub(rows, first));
    if (prologue)
      prologue(p, first, count);
    if (widen)
      p.convertRows(x, wide, first, count, kDim);
    for (auto [product, packedW] : llvm::zip_equal(products, packed)) {
      Value nDim = memref::DimOp::create(p.b, p.loc, product.out, 1);
      Value out = p.rows(product.out, first, count, nDim);
      if (packedW)
        p.bf16Gemm(tb.module, p.rows(x, first, count, kDim), packedW, out,
                   beta);
      else
        p.sgemm(tb.module, p.rows(wide, first, count, kDim), product.w, out,
                p.f32(1), beta, false);
      if (product.narrowed)
        p.convertRows(product.out, product.narrowed, first, count, nDim);
    }
  });
}

/// `w` as projectRowTiles takes the weight of a GEMM with `x`: in bf16 where
/// both are (moa_rt_bf16_gemm), else widened to f32.
Value rowProjectionWeight(TensorBoundary &tb, Value x, Value w) {
  return isBf16Product(x, w) ? w : tb.toF32(w);
}

/// out[b,t,n] = init[b,t,n] + sum_c x[b,t,c] w[c,n]: in parallel over tiles
/// of rows, one GEMM each.
struct LowerRowProjection : OpRewritePattern<linalg::ContractOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!isRowProjection(op, /*orBuffers=*/true))
      return rewriter.notifyMatchFailure(op, "not a row projection");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value xTensor = op.getInputs()[0];
    Value wTensor = rowProjectionWeight(tb, xTensor, op.getInputs()[1]);
    Value initTensor = tb.toF32(op.getOutputs()[0]);
    Value batch = tb.dim(initTensor, 0), length = tb.dim(initTensor, 1);
    Value kDim = tb.dim(xTensor, 2), nDim = tb.dim(wTensor, 1);
    Value rows = tb.checkedCount({{tb.dim(xTensor, 0), batch},
                                  {tb.dim(xTensor, 1), length},
                                  {tb.dim(wTensor, 0), kDim},
                                  {tb.dim(initTensor, 2), nDim}},
                                 e.mul(batch, length));
    Value x = tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}});
    Value init = tb.collapse(tb.buffer(initTensor), {{0, 1}, {2}});
    Value result3 = e.alloc(rewriter.getF32Type(), {batch, length, nDim});
    Value out = tb.collapse(result3, {{0, 1}, {2}});
    projectRowTiles(tb, x, rows, kDim, {{tb.buffer(wTensor), out}},
                    /*beta=*/1.0f, [&](Emitter &p, Value first, Value count) {
                      p.loop(p.idx(0), count, [&](Emitter &y, Value r) {
                        Value row = y.add(first, r);
                        y.loop(y.idx(0), nDim, [&](Emitter &z, Value col) {
                          z.store(z.load(init, {row, col}), out, {row, col});
                        });
                      });
                    });
    tb.replaceDestinationOp(rewriter, op, result3, op.getOutputs()[0]);
    return success();
  }
};

/// An elementwise linalg op in buffer form (identity maps or scalars, every
/// loop parallel, contiguous buffers, a payload without side effects or
/// indices): mixed precision's casts, the adjoints' sums, fills. Its payload
/// runs per element in parallel chunks (Emitter::parallelElements), where
/// upstream's loops would run serially on one thread while the team waits.
/// Distinct buffers are assumed not to overlap (one buffer may be both an
/// input and the result: each element is read before it is written).
struct LowerElementwise : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  static bool isElementwiseOnBuffers(linalg::LinalgOp op) {
    if (!op.hasPureBufferSemantics() || op.getNumLoops() == 0 ||
        op.getNumParallelLoops() != op.getNumLoops() ||
        op->getNumRegions() != 1)
      return false;
    for (OpOperand &operand : op->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      AffineMap map = op.getMatchingIndexingMap(&operand);
      if (type ? !type.getLayout().isIdentity() || !map.isIdentity()
               : map.getNumResults() != 0)
        return false;
    }
    return llvm::all_of(op.getBlock()->without_terminator(), [](Operation &x) {
      return x.getNumRegions() == 0 && !isa<linalg::IndexOp>(x) &&
             isMemoryEffectFree(&x);
    });
  }

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!isElementwiseOnBuffers(op))
      return rewriter.notifyMatchFailure(op, "not elementwise on buffers");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value shape = op.getDpsInits()[0];
    Value count = e.idx(1);
    for (int64_t i = 0; i < op.getNumLoops(); ++i)
      count = e.mul(count, tb.dim(shape, i));
    // Dynamic sizes that disagree with the first result's report and run
    // nothing (static ones agree: linalg's verifier).
    SmallVector<std::pair<Value, Value>> sizes;
    for (Value operand : op->getOperands())
      if (auto type = dyn_cast<MemRefType>(operand.getType()))
        for (int64_t i = 0; i < type.getRank(); ++i)
          if (operand != shape && type.isDynamicDim(i))
            sizes.push_back({tb.dim(operand, i), tb.dim(shape, i)});
    if (!sizes.empty())
      count = tb.checkedCount(sizes, count);
    // Each buffer as a 1-D view; scalars stay as they are.
    SmallVector<Value> flat;
    for (Value operand : op->getOperands())
      flat.push_back(isa<MemRefType>(operand.getType()) ? flatten(tb, operand)
                                                        : operand);
    Block *payload = op.getBlock();
    e.parallelElements(count, [&](Emitter &x, Value at) {
      IRMapping values;
      for (auto [arg, operand] : llvm::zip(payload->getArguments(), flat))
        if (!arg.use_empty())
          values.map(arg, isa<MemRefType>(operand.getType())
                              ? x.load(operand, {at})
                              : operand);
      for (Operation &inner : payload->without_terminator())
        x.b.clone(inner, values);
      for (auto [yielded, init] :
           llvm::zip(payload->getTerminator()->getOperands(),
                     ArrayRef<Value>(flat).drop_front(op.getNumDpsInputs())))
        x.store(values.lookupOrDefault(yielded), init, {at});
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// moa.key_value_projection: both GEMMs on each tile of input rows.
struct LowerKeyValueProjection : OpRewritePattern<KeyValueProjectionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KeyValueProjectionOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value inputTensor = op.getInput();
    Value wKey = rowProjectionWeight(tb, inputTensor, op.getWKey()),
          wValue = rowProjectionWeight(tb, inputTensor, op.getWValue());
    Value batch = tb.dim(inputTensor, 0), length = tb.dim(inputTensor, 1);
    Value kDim = tb.dim(inputTensor, 2), nDim = tb.dim(wKey, 1);
    Value rows = tb.checkedCount({{tb.dim(wKey, 0), kDim},
                                  {tb.dim(wValue, 0), kDim},
                                  {tb.dim(wValue, 1), nDim}},
                                 e.mul(batch, length));
    Value input = tb.collapse(tb.buffer(inputTensor), {{0, 1}, {2}});
    // Each result in f32, narrowed a tile at a time where it is not f32.
    Type f32 = rewriter.getF32Type();
    SmallVector<RowProduct> products;
    SmallVector<Value> narrowed;
    for (auto [w, result] :
         {std::pair(wKey, op.getKey()), std::pair(wValue, op.getValue())}) {
      Type type = getElementTypeOrSelf(result.getType());
      Value wide = e.alloc(f32, {batch, length, nDim});
      narrowed.push_back(type == f32 ? wide
                                     : e.alloc(type, {batch, length, nDim}));
      products.push_back({tb.buffer(w), tb.collapse(wide, {{0, 1}, {2}})});
      if (narrowed.back() != wide)
        products.back().narrowed = tb.collapse(narrowed.back(), {{0, 1}, {2}});
    }
    projectRowTiles(tb, input, rows, kDim, products, /*beta=*/0.0f);
    rewriter.replaceOp(op, {tb.result(narrowed[0], op.getKey().getType()),
                            tb.result(narrowed[1], op.getValue().getType())});
    return success();
  }
};

/// moa.project_route on the CPU: the projection's GEMMs (in parallel over
/// row tiles), then moa.route on the logits, lowered next.
struct LowerProjectRoute : OpRewritePattern<ProjectRouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ProjectRouteOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value xTensor = op.getX(), wTensor = tb.toF32(op.getWGate());
    Value batch = tb.dim(xTensor, 0), length = tb.dim(xTensor, 1);
    Value kDim = tb.dim(xTensor, 2), experts = tb.dim(wTensor, 1);
    Value rows =
        tb.checkedCount({{tb.dim(wTensor, 0), kDim}}, e.mul(batch, length));
    Value logits3 = e.alloc(rewriter.getF32Type(), {batch, length, experts});
    projectRowTiles(tb, tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}}), rows,
                    kDim,
                    {{tb.buffer(wTensor), tb.collapse(logits3, {{0, 1}, {2}})}},
                    /*beta=*/0.0f);
    Value logits = tb.result(logits3, op.getLogits().getType());
    auto route = RouteOp::create(rewriter, op.getLoc(), logits,
                                 op.getQueryPaddingMask(), op.getKAttr(),
                                 op.getGatingAttr(), op.getRenormalizeAttr());
    rewriter.replaceOp(op, {logits, route.getIndices(), route.getGates()});
    return success();
  }
};

} // namespace

void mlir::moa::loops::populatePrimitiveLoopPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerRoute, LowerRecordRouting, LowerDispatch,
               LowerGroupedMatmul, LowerMultiQueryAttention, LowerRowProjection,
               LowerKeyValueProjection, LowerProjectRoute, LowerElementwise>(
      patterns.getContext());
}
