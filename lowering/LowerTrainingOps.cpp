//===- LowerTrainingOps.cpp - moa training ops to loops on buffers --------===//
//
// The backward ops, the model ops and the optimizer, lowered like the
// forward primitives (LowerToLoops.cpp): loops on buffers, GEMMs through
// moa_rt_sgemm, independent work in scf.parallel. Data-dependent checks
// (indices, targets) run serially before any parallel loop, because a
// failure is recorded on the calling thread only.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/LoopEmitter.h"
#include "passes/LinalgBuilders.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

/// Rows per parallel chunk for row-wise kernels (layer norm, losses).
constexpr int64_t kRowChunk = 64;
/// Elements per parallel chunk of the optimizer.
constexpr int64_t kElementChunk = 16384;

/// Collapses all dimensions of `buffer` but the last into one: [rows, d].
Value asRows(TensorBoundary &tb, Value buffer) {
  int64_t rank = cast<MemRefType>(buffer.getType()).getRank();
  if (rank == 2)
    return buffer;
  ReassociationIndices outer;
  for (int64_t i = 0; i + 1 < rank; ++i)
    outer.push_back(i);
  if (rank == 1)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc,
        MemRefType::get({1, ShapedType::kDynamic},
                        cast<MemRefType>(buffer.getType()).getElementType()),
        buffer, {{0, 1}},
        ArrayRef<OpFoldResult>{
            tb.e.b.getIndexAttr(1),
            memref::DimOp::create(tb.e.b, tb.e.loc, buffer, 0).getResult()});
  return tb.collapse(buffer, {outer, {rank - 1}});
}

/// All dimensions of `buffer` as one (a 0-d buffer becomes [1]).
Value flatten(TensorBoundary &tb, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  int64_t rank = type.getRank();
  if (rank == 0)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc, MemRefType::get({1}, type.getElementType()), buffer,
        ArrayRef<ReassociationIndices>{},
        ArrayRef<OpFoldResult>{tb.e.b.getIndexAttr(1)});
  ReassociationIndices all;
  for (int64_t i = 0; i < rank; ++i)
    all.push_back(i);
  return rank == 1 ? buffer : tb.collapse(buffer, {all});
}

/// The product of the sizes of `tensor`.
Value numElements(TensorBoundary &tb, Value tensor) {
  Value n = tb.e.idx(1);
  for (int64_t i = 0, rank = cast<RankedTensorType>(tensor.getType()).getRank();
       i < rank; ++i)
    n = tb.e.mul(n, tb.dim(tensor, i));
  return n;
}

/// A fresh f32 buffer shaped like `tensor`.
Value allocLike(TensorBoundary &tb, Value tensor) {
  SmallVector<Value> sizes;
  for (int64_t i = 0, rank = cast<RankedTensorType>(tensor.getType()).getRank();
       i < rank; ++i)
    sizes.push_back(tb.dim(tensor, i));
  return tb.e.alloc(tb.e.b.getF32Type(), sizes);
}

Value asF32Result(TensorBoundary &tb, Value buffer, Type type) {
  auto tensorType = cast<RankedTensorType>(type);
  return tb.convert(
      tb.result(buffer, RankedTensorType::get(tensorType.getShape(),
                                              tb.e.b.getF32Type())),
      tensorType.getElementType());
}

void fill(Emitter &e, Value buffer, Value count, Value value) {
  e.loop(e.idx(0), count,
         [&](Emitter &x, Value i) { x.store(value, buffer, {i}); });
}

/// The 0-d f32 tensor `scalar` as an f32 value.
Value loadScalar(TensorBoundary &tb, Value scalar) {
  return tb.e.load(tb.buffer(scalar), {});
}

/// Maximum and sum of exp(v - maximum) of row `row` of a [rows, n] buffer.
std::pair<Value, Value> softmaxStats(Emitter &e, Value buffer, Value row,
                                     Value n) {
  Value maximum =
      e.loop(e.idx(0), n, {negInf(e)}, [&](Emitter &x, Value i, ValueRange m) {
        return SmallVector<Value>{x.maxf(m[0], x.load(buffer, {row, i}))};
      })[0];
  Value sum =
      e.loop(e.idx(0), n, {e.f32(0)}, [&](Emitter &x, Value i, ValueRange s) {
        Value d = x.subf(x.load(buffer, {row, i}), maximum);
        return SmallVector<Value>{x.sum(s[0], x.exp(d))};
      })[0];
  return {maximum, sum};
}

/// True if index value `v` (i32 or index) lies in [lo, hi).
Value inRange(Emitter &e, Value v, Value lo, Value hi) {
  return e.andI(e.cmp(arith::CmpIPredicate::sge, v, lo),
                e.cmp(arith::CmpIPredicate::slt, v, hi));
}

/// Serially checks that every element of the flat index buffer `indices`
/// ([count]) lies in [lo, hi); reports IndexOutOfRange otherwise and runs
/// `body` only if all do.
void guardIndices(TensorBoundary &tb, Value indices, Value count, Value lo,
                  Value hi, function_ref<void(Emitter &)> body) {
  Emitter &e = tb.e;
  Value ok = e.loop(
      e.idx(0), count, {e.cmp(arith::CmpIPredicate::eq, e.idx(0), e.idx(0))},
      [&](Emitter &x, Value i, ValueRange acc) {
        Value v = x.toIndex(x.load(indices, {i}));
        return SmallVector<Value>{x.andI(acc[0], inRange(x, v, lo, hi))};
      })[0];
  tb.guard(ok, FailureCode::IndexOutOfRange, body);
}

//===----------------------------------------------------------------------===//
// moa.route_grad
//===----------------------------------------------------------------------===//

struct LowerRouteGrad : OpRewritePattern<RouteGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getLogits(), 0), length = tb.dim(op.getLogits(), 1);
    Value experts = tb.dim(op.getLogits(), 2);
    Value k = tb.dim(op.getIndices(), 2);
    Value tokens =
        tb.checkedCount(tb.agree({{tb.dim(op.getIndices(), 0), batch},
                                  {tb.dim(op.getIndices(), 1), length},
                                  {tb.dim(op.getGatesGrad(), 0), batch},
                                  {tb.dim(op.getGatesGrad(), 1), length},
                                  {tb.dim(op.getGatesGrad(), 2), k}}),
                        e.mul(batch, length));
    Value logits = tb.collapse(tb.buffer(op.getLogits()), {{0, 1}, {2}});
    Value indices = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}, {2}});
    Value dGates = tb.collapse(tb.buffer(op.getGatesGrad()), {{0, 1}, {2}});
    Value result = e.alloc(rewriter.getF32Type(), {batch, length, experts});
    Value dLogits = tb.collapse(result, {{0, 1}, {2}});
    const bool topkSoftmax = op.getGating() == Gating::TopKSoftmax;
    const bool renormalize = op.getRenormalize();

    // Indices are checked serially: a bad one reads out of bounds.
    Value pairs = e.mul(tokens, k);
    Value flatIndices = tb.collapse(indices, {{0, 1}});
    guardIndices(tb, flatIndices, pairs, e.idx(-1), experts, [&](Emitter &g) {
      g.parallel({tokens}, [&](Emitter &p, ValueRange ivs) {
        Value t = ivs[0];
        p.loop(p.idx(0), experts, [&](Emitter &x, Value i) {
          x.store(x.f32(0), dLogits, {t, i});
        });
        Value expertOf0 = p.toIndex(p.load(indices, {t, p.idx(0)}));
        // A padded token (index -1) has constant zero gates; a token with
        // -1 in any slot is treated so (moa.route writes all or none).
        Value routed = p.loop(
            p.idx(0), k, {p.cmp(arith::CmpIPredicate::eq, k, k)},
            [&](Emitter &x, Value j, ValueRange acc) {
              Value ex = x.toIndex(x.load(indices, {t, j}));
              return SmallVector<Value>{x.andI(
                  acc[0], x.cmp(arith::CmpIPredicate::sge, ex, x.idx(0)))};
            })[0];
        p.ifThen(routed, [&](Emitter &r) {
          auto expertOf = [&](Emitter &x, Value j) {
            return x.toIndex(x.load(indices, {t, j}));
          };
          auto logit = [&](Emitter &x, Value i) {
            return x.load(logits, {t, i});
          };
          auto dGate = [&](Emitter &x, Value j) {
            return x.load(dGates, {t, j});
          };
          if (topkSoftmax) {
            // g_j = softmax over the selected logits; the first slot
            // holds the largest.
            Value reference = logit(r, expertOf0);
            Value denominator =
                r.loop(r.idx(0), k, {r.f32(0)},
                       [&](Emitter &x, Value j, ValueRange s) {
                         return SmallVector<Value>{
                             x.sum(s[0], x.exp(x.subf(logit(x, expertOf(x, j)),
                                                      reference)))};
                       })[0];
            auto gate = [&](Emitter &x, Value j) {
              return x.divf(x.exp(x.subf(logit(x, expertOf(x, j)), reference)),
                            denominator);
            };
            Value dot = r.loop(r.idx(0), k, {r.f32(0)},
                               [&](Emitter &x, Value j, ValueRange s) {
                                 return SmallVector<Value>{x.addf(
                                     s[0], x.mulf(dGate(x, j), gate(x, j)))};
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
          auto prob = [&, maximum = maximum,
                       denominator = denominator](Emitter &x, Value i) {
            return x.divf(x.exp(x.subf(logit(x, i), maximum)), denominator);
          };
          Value total = r.loop(r.idx(0), k, {r.f32(0)},
                               [&](Emitter &x, Value j, ValueRange s) {
                                 return SmallVector<Value>{
                                     x.addf(s[0], prob(x, expertOf(x, j)))};
                               })[0];
          // The forward op renormalises only a positive total.
          Value renorm =
              renormalize ? r.cmpf(arith::CmpFPredicate::OGT, total, r.f32(0))
                          : r.cmp(arith::CmpIPredicate::ne, r.idx(0), r.idx(0));
          Value scale = r.select(renorm, total, r.f32(1));
          // sum_m dg_m g_m with g_m = p_m / scale.
          Value gateDot = r.loop(
              r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
                Value g = x.divf(prob(x, expertOf(x, j)), scale);
                return SmallVector<Value>{x.addf(s[0], x.mulf(dGate(x, j), g))};
              })[0];
          // dL/dp of slot j.
          auto dProb = [&](Emitter &x, Value j) {
            Value renormed = x.divf(x.subf(dGate(x, j), gateDot), scale);
            return x.select(renorm, renormed, dGate(x, j));
          };
          Value c = r.loop(
              r.idx(0), k, {r.f32(0)}, [&](Emitter &x, Value j, ValueRange s) {
                return SmallVector<Value>{
                    x.addf(s[0], x.mulf(dProb(x, j), prob(x, expertOf(x, j))))};
              })[0];
          r.loop(r.idx(0), experts, [&](Emitter &x, Value i) {
            x.store(x.mulf(x.f32(-1), x.mulf(prob(x, i), c)), dLogits, {t, i});
          });
          r.loop(r.idx(0), k, [&](Emitter &x, Value j) {
            Value i = expertOf(x, j);
            x.store(x.addf(x.load(dLogits, {t, i}),
                           x.mulf(prob(x, i), dProb(x, j))),
                    dLogits, {t, i});
          });
        });
      });
    });
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
struct LowerGroupedMatmulGrad : OpRewritePattern<GroupedMatmulGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupedMatmulGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!GroupedRows::isI32(op.getPermutation(), op.getOffsets()))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    GroupedRows g(tb, op.getInput(), op.getWeight(), op.getPermutation(),
                  op.getOffsets(), op.getGates());
    const bool combine = g.combine, tokenRows = g.tokenRows;
    Value inputTensor = g.inputTensor, weightTensor = g.weightTensor;
    Value gradTensor = tb.toF32(op.getResultGrad());
    Value batch = g.batch, length = g.length, tokens = g.tokens;
    Value numExperts = g.numExperts, kDim = g.kDim, nDim = g.nDim;
    Value k = combine ? tb.dim(op.getGates(), 2) : tb.dim(gradTensor, 2);
    Value pairs = e.mul(tokens, k);

    SmallVector<std::pair<Value, Value>> sizes = g.sizeChecks(tb, k);
    sizes.append({{tb.dim(gradTensor, 0), batch},
                  {tb.dim(gradTensor, 1), length},
                  {tb.dim(gradTensor, combine ? 2 : 3), nDim}});
    Value sizesOk = tb.agree(sizes);
    e.ifThen(e.notI(sizesOk), [&](Emitter &x) {
      x.fail(tb.module, FailureCode::ShapeMismatch);
    });
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
                  y.store(y.load(input, {source, c}), xs, {row, c});
                });
                x.loop(x.idx(0), nDim, [&](Emitter &y, Value c) {
                  y.store(y.load(grad, {gradRow, c}), gs, {row, c});
                });
              });
              Value xTile = q.rows(xs, start, count, kDim);
              Value gTile = q.rows(gs, start, count, nDim);
              Value uTile = q.rows(us, start, count, kDim);
              q.sgemm(tb.module, gTile,
                      q.rows(weight, q.idx(0), kDim, nDim, ex), uTile, q.f32(1),
                      0.0f, /*transposeB=*/true);
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
        asF32Result(tb, inputGrad, op.getInputGrad().getType()),
        asF32Result(tb, weightGrad, op.getWeightGrad().getType())};
    if (combine)
      results.push_back(tb.result(
          gatesGrad, cast<RankedTensorType>(op.getGatesGrad()[0].getType())));
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
/// dV += P^T dO, dS = P (dP - D), dQ += scale dS K, dK += scale dS^T Q.
struct LowerMultiQueryAttentionGrad
    : OpRewritePattern<MultiQueryAttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MultiQueryAttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    const bool causal = op.getCausal();
    Value queryTensor = tb.toF32(op.getQuery());
    Value keyTensor = tb.toF32(op.getKey());
    Value valueTensor = tb.toF32(op.getValue());
    Value outTensor = tb.toF32(op.getResult());
    Value dOutTensor = tb.toF32(op.getResultGrad());
    Value batch = tb.dim(queryTensor, 0), length = tb.dim(queryTensor, 1);
    Value k = tb.dim(queryTensor, 2), h = tb.dim(queryTensor, 3);
    Value keys = tb.dim(keyTensor, 1);
    Value rowsPerBatch = e.mul(length, k);

    SmallVector<std::pair<Value, Value>> sizes = {
        {tb.dim(keyTensor, 0), batch},
        {tb.dim(valueTensor, 0), batch},
        {tb.dim(valueTensor, 1), keys},
        {tb.dim(keyTensor, 2), h},
        {tb.dim(valueTensor, 2), h}};
    const Value querySizes[] = {batch, length, k, h};
    for (Value t : {outTensor, dOutTensor})
      for (auto [i, size] : llvm::enumerate(querySizes))
        sizes.push_back({tb.dim(t, i), size});
    if (op.getKeyPaddingMask())
      sizes.append({{tb.dim(op.getKeyPaddingMask(), 0), batch},
                    {tb.dim(op.getKeyPaddingMask(), 1), keys}});
    Value ok = tb.agree(sizes);

    auto perRow = [&](Value tensor) {
      return tb.collapse(tb.buffer(tensor), {{0}, {1, 2}, {3}});
    };
    Value query = perRow(queryTensor), out = perRow(outTensor),
          dOut = perRow(dOutTensor);
    Value key = tb.buffer(keyTensor), value = tb.buffer(valueTensor);
    Value mask =
        op.getKeyPaddingMask() ? tb.buffer(op.getKeyPaddingMask()) : Value();
    Value dQuery4 = allocLike(tb, queryTensor);
    Value dQuery = tb.collapse(dQuery4, {{0}, {1, 2}, {3}});
    Value dKey = allocLike(tb, keyTensor), dValue = allocLike(tb, valueTensor);

    Value scale;
    if (std::optional<APFloat> attr = op.getScale())
      scale = e.f32(attr->convertToFloat());
    else
      scale = math::RsqrtOp::create(
          rewriter, e.loc,
          arith::UIToFPOp::create(
              rewriter, e.loc, f32,
              arith::IndexCastUIOp::create(rewriter, e.loc,
                                           rewriter.getI64Type(), h)));

    tb.guard(ok, FailureCode::ShapeMismatch, [&](Emitter &g) {
      Value tile = g.idx(kTileRows), block = g.idx(kKeyBlock);
      g.parallel({batch}, [&](Emitter &p, ValueRange ivs) {
        Value b = ivs[0];
        auto scratch = [&](ArrayRef<int64_t> shape) -> Value {
          Value buffer =
              memref::AllocaOp::create(p.b, p.loc, MemRefType::get(shape, f32));
          if (shape.size() != 2)
            return buffer;
          return memref::CastOp::create(
              p.b, p.loc,
              MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              f32),
              buffer);
        };
        Value probs = scratch({kTileRows, kKeyBlock});
        Value dScores = scratch({kTileRows, kKeyBlock});
        Value lse = scratch({kTileRows}), delta = scratch({kTileRows});
        Value dk = p.rows(dKey, p.idx(0), keys, h, b);
        Value dv = p.rows(dValue, p.idx(0), keys, h, b);
        p.loop(p.idx(0), keys, [&](Emitter &x, Value s) {
          x.loop(x.idx(0), h, [&](Emitter &y, Value c) {
            y.store(y.f32(0), dk, {s, c});
            y.store(y.f32(0), dv, {s, c});
          });
        });
        p.loop(
            p.idx(0), p.ceilDiv(rowsPerBatch, tile), [&](Emitter &q, Value ti) {
              Value firstRow = q.mul(ti, tile);
              Value rows = q.min(tile, q.sub(rowsPerBatch, firstRow));
              Value lastToken =
                  q.div(q.sub(q.add(firstRow, rows), q.idx(1)), k);
              Value visibleKeys =
                  causal ? q.min(q.add(lastToken, q.idx(1)), keys) : keys;
              Value qt = q.rows(query, firstRow, rows, h, b);
              Value ot = q.rows(out, firstRow, rows, h, b);
              Value dot = q.rows(dOut, firstRow, rows, h, b);
              Value dqt = q.rows(dQuery, firstRow, rows, h, b);
              q.loop(q.idx(0), rows, [&](Emitter &x, Value r) {
                Value d = x.loop(x.idx(0), h, {x.f32(0)},
                                 [&](Emitter &y, Value c, ValueRange s) {
                                   y.store(y.f32(0), dqt, {r, c});
                                   return SmallVector<Value>{
                                       y.sum(s[0], y.mulf(y.load(dot, {r, c}),
                                                          y.load(ot, {r, c})))};
                                 })[0];
                x.store(d, delta, {r});
                x.store(negInf(x), lse, {r});
              });
              // Keys [first, first + count) of a block; for row r, those before
              // `valid` are visible up to the padding mask.
              auto forEachBlock =
                  [&](Emitter &x,
                      function_ref<void(Emitter &, Value, Value, Value)> body) {
                    x.loop(x.idx(0), x.ceilDiv(visibleKeys, block),
                           [&](Emitter &y, Value blk) {
                             Value first = y.mul(blk, block);
                             Value count =
                                 y.min(block, y.sub(visibleKeys, first));
                             Value s = y.rows(probs, y.idx(0), rows, count);
                             y.sgemm(tb.module, qt,
                                     y.rows(key, first, count, h, b), s, scale,
                                     0.0f, /*transposeB=*/true);
                             body(y, first, count, s);
                           });
                  };
              auto validKeys = [&](Emitter &y, Value r, Value first,
                                   Value count) {
                Value t = y.div(y.add(firstRow, r), k);
                Value visible = causal ? y.min(y.add(t, y.idx(1)), visibleKeys)
                                       : visibleKeys;
                return y.min(count,
                             arith::MaxSIOp::create(y.b, y.loc, y.idx(0),
                                                    y.sub(visible, first)));
              };
              auto isVisible = [&](Emitter &z, Value first, Value j,
                                   Value valid) {
                Value v = z.cmp(arith::CmpIPredicate::slt, j, valid);
                if (!mask)
                  return v;
                Value safe = z.select(v, z.add(first, j), z.idx(0));
                return z.andI(v, z.notI(z.load(mask, {b, safe})));
              };
              // Pass 1: the log-sum-exp of each row over its visible keys.
              forEachBlock(q, [&](Emitter &x, Value first, Value count,
                                  Value s) {
                x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
                  Value valid = validKeys(y, r, first, count);
                  Value blockMax = y.loop(
                      y.idx(0), valid, {negInf(y)},
                      [&](Emitter &z, Value j, ValueRange m) {
                        Value v = z.select(isVisible(z, first, j, valid),
                                           z.load(s, {r, j}), negInf(z));
                        return SmallVector<Value>{
                            arith::MaxNumFOp::create(z.b, z.loc, m[0], v)};
                      })[0];
                  Value old = y.load(lse, {r});
                  Value top = y.maxf(old, blockMax);
                  y.ifThen(y.cmpf(arith::CmpFPredicate::ONE, top, negInf(y)),
                           [&](Emitter &z) {
                             Value sum = z.loop(
                                 z.idx(0), valid, {z.f32(0)},
                                 [&](Emitter &w, Value j, ValueRange acc) {
                                   Value ev =
                                       w.exp(w.subf(w.load(s, {r, j}), top));
                                   return SmallVector<Value>{w.sum(
                                       acc[0],
                                       w.select(isVisible(w, first, j, valid),
                                                ev, w.f32(0)))};
                                 })[0];
                             // old is -inf or a previous lse: exp(old - top).
                             Value carried = z.exp(z.subf(old, top));
                             z.store(z.addf(top, z.log(z.addf(sum, carried))),
                                     lse, {r});
                           });
                });
              });
              // Pass 2: gradients.
              forEachBlock(q, [&](Emitter &x, Value first, Value count,
                                  Value s) {
                Value ds = x.rows(dScores, x.idx(0), rows, count);
                x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
                  Value valid = validKeys(y, r, first, count);
                  Value rowLse = y.load(lse, {r});
                  y.loop(y.idx(0), count, [&](Emitter &z, Value j) {
                    Value pv = z.exp(z.subf(z.load(s, {r, j}), rowLse));
                    z.store(
                        z.select(isVisible(z, first, j, valid), pv, z.f32(0)),
                        s, {r, j});
                  });
                });
                Value keyBlock = x.rows(key, first, count, h, b);
                Value valueBlock = x.rows(value, first, count, h, b);
                x.sgemm(tb.module, dot, valueBlock, ds, x.f32(1), 0.0f,
                        /*transposeB=*/true);
                x.sgemm(tb.module, s, dot, x.rows(dv, first, count, h),
                        x.f32(1), 1.0f, /*transposeB=*/false,
                        /*transposeA=*/true);
                x.loop(x.idx(0), rows, [&](Emitter &y, Value r) {
                  Value d = y.load(delta, {r});
                  y.loop(y.idx(0), count, [&](Emitter &z, Value j) {
                    Value pv = z.load(s, {r, j});
                    // Masked keys: exactly zero, whatever dP holds there.
                    Value g = z.mulf(pv, z.subf(z.load(ds, {r, j}), d));
                    z.store(z.select(
                                z.cmpf(arith::CmpFPredicate::OEQ, pv, z.f32(0)),
                                z.f32(0), g),
                            ds, {r, j});
                  });
                });
                x.sgemm(tb.module, ds, keyBlock, dqt, scale, 1.0f,
                        /*transposeB=*/false);
                x.sgemm(tb.module, ds, qt, x.rows(dk, first, count, h), scale,
                        1.0f, /*transposeB=*/false, /*transposeA=*/true);
              });
            });
      });
    });

    rewriter.replaceOp(op,
                       {asF32Result(tb, dQuery4, op.getQueryGrad().getType()),
                        asF32Result(tb, dKey, op.getKeyGrad().getType()),
                        asF32Result(tb, dValue, op.getValueGrad().getType())});
    return success();
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

struct LowerLoadBalancingLossGrad : OpRewritePattern<LoadBalancingLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadBalancingLossGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value indicesTensor = op.getIndices();
    TokenRows rows(tb, op.getLogits(), op.getQueryPaddingMask(),
                   {{tb.dim(indicesTensor, 0), tb.dim(op.getLogits(), 0)},
                    {tb.dim(indicesTensor, 1), tb.dim(op.getLogits(), 1)}});
    Value k = tb.dim(indicesTensor, 2);
    Value indices = tb.collapse(tb.buffer(indicesTensor), {{0, 1}, {2}});
    // Counts c_e over non-padded tokens (constants of the gradient).
    Value counts = e.alloc(rewriter.getF64Type(), {rows.experts});
    fill(e, counts, rows.experts, e.f64(0));
    Value pairsCounted = e.loop(
        e.idx(0), rows.tokens, {e.f64(0)},
        [&](Emitter &x, Value t, ValueRange acc) {
          Value keep = x.notI(rows.padded(x, t));
          return x.loop(
              x.idx(0), k, {acc[0]}, [&](Emitter &y, Value j, ValueRange a) {
                Value ex = y.toIndex(y.load(indices, {t, j}));
                Value valid =
                    y.andI(keep, inRange(y, ex, y.idx(0), rows.experts));
                y.ifThen(valid, [&](Emitter &z) {
                  z.store(z.addf(z.load(counts, {ex}), z.f64(1)), counts, {ex});
                });
                return SmallVector<Value>{
                    y.select(valid, y.addf(a[0], y.f64(1)), a[0])};
              });
        })[0];
    Value tokensCounted = rows.counted(e);
    // L = E sum_e P_e c_e / (sum P sum c) with sum P = the token count, so
    // dL/dl_{t,i} = p_i (w_i - sum_e w_e p_e), w_e = E c_e / (N sum c).
    Value empty =
        e.orI(e.cmpf(arith::CmpFPredicate::OLE, pairsCounted, e.f64(0)),
              e.cmpf(arith::CmpFPredicate::OLE, tokensCounted, e.f64(0)));
    Value factor =
        e.select(empty, e.f64(0),
                 e.divf(e.mulf(e.extf(loadScalar(tb, op.getLossGrad())),
                               e.indexToF64(rows.experts)),
                        e.mulf(tokensCounted, pairsCounted)));
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
    rewriter.replaceOp(op, tb.result(rows.result, op.getType()));
    return success();
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
    Value batch = tb.dim(gatesTensor, 0), length = tb.dim(gatesTensor, 1);
    Value k = tb.dim(gatesTensor, 2);
    pairs = tb.checkedCount(tb.agree({{tb.dim(indicesTensor, 0), batch},
                                      {tb.dim(indicesTensor, 1), length},
                                      {tb.dim(indicesTensor, 2), k}}),
                            e.mul(e.mul(batch, length), k));
    gates = tb.collapse(tb.buffer(gatesTensor), {{0, 1, 2}});
    indices = tb.collapse(tb.buffer(indicesTensor), {{0, 1, 2}});
    experts = e.idx(numExperts);
    importance = e.alloc(e.b.getF64Type(), {experts});
    fill(e, importance, experts, e.f64(0));
    guardIndices(tb, indices, pairs, e.idx(-1), experts, [&](Emitter &g) {
      g.loop(g.idx(0), pairs, [&](Emitter &x, Value p) {
        Value ex = x.toIndex(x.load(indices, {p}));
        x.ifThen(x.cmp(arith::CmpIPredicate::sge, ex, x.idx(0)),
                 [&](Emitter &y) {
                   y.store(y.addf(y.load(importance, {ex}),
                                  y.extf(y.load(gates, {p}))),
                           importance, {ex});
                 });
      });
    });
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

/// Checks gamma's size against the rows' width; returns the row count.
/// Checks gamma's (and `other`'s: beta [d], or the result gradient shaped
/// like the input) sizes against the input's; returns the row count.
Value layerNormRows(TensorBoundary &tb, Value input, Value gamma, Value other,
                    Value d) {
  Value rows = tb.e.idx(1);
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  for (int64_t i = 0; i + 1 < rank; ++i)
    rows = tb.e.mul(rows, tb.dim(input, i));
  SmallVector<std::pair<Value, Value>> sizes = {{tb.dim(gamma, 0), d}};
  if (cast<RankedTensorType>(other.getType()).getRank() == 1)
    sizes.push_back({tb.dim(other, 0), d});
  else
    for (int64_t i = 0; i < rank; ++i)
      sizes.push_back({tb.dim(other, i), tb.dim(input, i)});
  return tb.checkedCount(tb.agree(sizes), rows);
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
    e.parallel({rows}, [&](Emitter &p, ValueRange ivs) {
      Value r = ivs[0];
      auto [mean, rstd] = rowMoments(p, x, r, d, epsilon);
      p.loop(p.idx(0), d, [&, mean = mean, rstd = rstd](Emitter &z, Value c) {
        Value v = z.mulf(z.subf(z.load(x, {r, c}), mean), rstd);
        z.store(z.addf(z.mulf(v, z.load(gamma, {c})), z.load(beta, {c})), y,
                {r, c});
      });
    });
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
      g.parallel({rows}, [&](Emitter &p, ValueRange ivs) {
        Value id = p.toIndex(p.load(ids, {ivs[0]}));
        p.loop(p.idx(0), d, [&](Emitter &z, Value c) {
          z.store(z.load(table, {id, c}), out, {ivs[0], c});
        });
      });
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
    Value rows =
        tb.checkedCount(tb.agree({{tb.dim(op.getResultGrad(), 0), batch},
                                  {tb.dim(op.getResultGrad(), 1), length},
                                  {tb.dim(op.getResultGrad(), 2), d}}),
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
    Value batch = tb.dim(logitsTensor, 0), length = tb.dim(logitsTensor, 1);
    vocab = tb.dim(logitsTensor, 2);
    rows = tb.checkedCount(tb.agree({{tb.dim(targetsTensor, 0), batch},
                                     {tb.dim(targetsTensor, 1), length}}),
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
    guardIndices(tb, in.targets, in.rows, e.idx(-1), in.vocab, [&](Emitter &g) {
      g.parallel({in.rows}, [&](Emitter &p, ValueRange ivs) {
        Value r = ivs[0];
        Value t = p.toIndex(p.load(in.targets, {r}));
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
      });
      Value total = g.loop(g.idx(0), in.rows, {g.f64(0)},
                           [&](Emitter &x, Value r, ValueRange acc) {
                             return SmallVector<Value>{
                                 x.addf(acc[0], x.load(perRow, {r}))};
                           })[0];
      g.store(g.truncf(g.divf(total, g.maxf(in.labelled, g.f64(1)))), loss, {});
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
    guardIndices(tb, in.targets, in.rows, e.idx(-1), in.vocab, [&](Emitter &g) {
      g.parallel({in.rows}, [&](Emitter &p, ValueRange ivs) {
        Value r = ivs[0];
        Value t = p.toIndex(p.load(in.targets, {r}));
        p.ifThen(
            p.cmp(arith::CmpIPredicate::sge, t, p.idx(0)), [&](Emitter &x) {
              auto [maximum, sum] = softmaxStats(x, in.logits, r, in.vocab);
              x.loop(
                  x.idx(0), in.vocab,
                  [&, maximum = maximum, sum = sum](Emitter &z, Value i) {
                    Value prob = z.divf(
                        z.exp(z.subf(z.load(in.logits, {r, i}), maximum)), sum);
                    Value hot = z.select(z.cmp(arith::CmpIPredicate::eq, i, t),
                                         z.f32(1), z.f32(0));
                    z.store(z.mulf(factor, z.subf(prob, hot)), out, {r, i});
                  });
            });
      });
    });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

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
    Value newParam = allocLike(tb, op.getParam());
    Value newM = allocLike(tb, op.getParam()),
          newV = allocLike(tb, op.getParam());
    Value p1 = flatten(tb, newParam), m1 = flatten(tb, newM),
          v1 = flatten(tb, newV);
    SmallVector<std::pair<Value, Value>> sizes;
    for (Value other :
         {op.getGrad(), op.getFirstMoment(), op.getSecondMoment()})
      sizes.push_back({numElements(tb, other), count});
    count = tb.checkedCount(tb.agree(sizes), count);
    Value chunk = e.idx(kElementChunk);
    e.parallel({e.ceilDiv(count, chunk)}, [&](Emitter &p, ValueRange ivs) {
      Value first = p.mul(ivs[0], chunk);
      p.loop(first, p.min(count, p.add(first, chunk)),
             [&](Emitter &x, Value i) {
               Value g = x.mulf(x.load(grad, {i}), clip32);
               Value mi = x.addf(x.mulf(b1, x.load(m, {i})), x.mulf(c1, g));
               Value vi =
                   x.addf(x.mulf(b2, x.load(v, {i})), x.mulf(c2, x.mulf(g, g)));
               Value denom = x.addf(x.divf(x.sqrt(vi), rootCorrection2), eps);
               Value pi = x.subf(x.mulf(x.load(param, {i}), decayFactor),
                                 x.mulf(stepSize, x.divf(mi, denom)));
               x.store(pi, p1, {i});
               x.store(mi, m1, {i});
               x.store(vi, v1, {i});
             });
    });
    RankedTensorType type = op.getParam().getType();
    rewriter.replaceOp(op, {tb.result(newParam, type), tb.result(newM, type),
                            tb.result(newV, type)});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Weight gradients of row projections (linalg.contract as
// moa-generate-gradients emits it): out[c, n] = init + sum_{b,t} x[b,t,c]
// g[b,t,n].
//===----------------------------------------------------------------------===//

struct LowerWeightGradient : OpRewritePattern<linalg::ContractOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getInputs().size() != 2 ||
        op.getOutputs().size() != 1)
      return rewriter.notifyMatchFailure(op, "not a tensor contraction");
    SmallVector<AffineMap> expected = weightGradientMaps(op.getContext());
    if (op.getIndexingMapsArray() != ArrayRef<AffineMap>(expected))
      return rewriter.notifyMatchFailure(op, "not a weight gradient");
    auto resultType = cast<RankedTensorType>(op.getResultTypes()[0]);
    if (!resultType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not an f32 contraction");

    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value xTensor = tb.toF32(op.getInputs()[0]);
    Value gTensor = tb.toF32(op.getInputs()[1]);
    Value initTensor = op.getOutputs()[0];
    Value batch = tb.dim(xTensor, 0), length = tb.dim(xTensor, 1);
    Value cDim = tb.dim(initTensor, 0), nDim = tb.dim(initTensor, 1);
    Value rows = tb.checkedCount(tb.agree({{tb.dim(gTensor, 0), batch},
                                           {tb.dim(gTensor, 1), length},
                                           {tb.dim(xTensor, 2), cDim},
                                           {tb.dim(gTensor, 2), nDim}}),
                                 e.mul(batch, length));
    Value x = tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}});
    Value g = tb.collapse(tb.buffer(gTensor), {{0, 1}, {2}});
    Value init = tb.buffer(initTensor);
    Value out = e.alloc(rewriter.getF32Type(), {cDim, nDim});
    Value chunk = e.idx(kRowChunk);
    // In parallel over chunks of output rows c: out[c0:c1] = x[:, c0:c1]^T g.
    e.parallel({e.ceilDiv(cDim, chunk)}, [&](Emitter &p, ValueRange ivs) {
      Value first = p.mul(ivs[0], chunk);
      Value count = p.min(chunk, p.sub(cDim, first));
      p.loop(first, p.add(first, count), [&](Emitter &y, Value r) {
        y.loop(y.idx(0), nDim, [&](Emitter &z, Value col) {
          z.store(z.load(init, {r, col}), out, {r, col});
        });
      });
      p.sgemm(tb.module, p.cols(x, first, count, rows), g,
              p.rows(out, first, count, nDim), p.f32(1), 1.0f,
              /*transposeB=*/false, /*transposeA=*/true);
    });
    rewriter.replaceOp(op, tb.result(out, resultType));
    return success();
  }
};

} // namespace

void mlir::moa::loops::populateTrainingLoopPatterns(
    RewritePatternSet &patterns) {
  patterns.add<
      LowerRouteGrad, LowerGroupedMatmulGrad, LowerMultiQueryAttentionGrad,
      LowerRouterZLossGrad, LowerLoadBalancingLossGrad, LowerImportanceCVLoss,
      LowerImportanceCVLossGrad, LowerMutualInformationLossGrad, LowerLayerNorm,
      LowerLayerNormGrad, LowerEmbedding, LowerEmbeddingGrad, LowerCrossEntropy,
      LowerCrossEntropyGrad, LowerGlobalNorm, LowerAdamW, LowerWeightGradient>(
      patterns.getContext());
}
