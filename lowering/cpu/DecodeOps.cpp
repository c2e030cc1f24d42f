//===- DecodeOps.cpp - The decoding ops to loops -------------------------===//
//
// moa.cache_write copies the new tokens' rows into the cache in place;
// moa.cached_attention is split-KV decoding: in parallel over (sequence,
// block of cached keys), the k query slots of each new token go over the
// block while it is in cache (scores, block maximum and sum, partial output),
// then in parallel over query rows the blocks' partials are combined. One
// sequence of a few thousand cached tokens thus fills every thread.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/cpu/LoopPatterns.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

namespace {

/// Query-key pairs below which the split-KV loop runs on the calling thread.
constexpr int64_t kSerialPairs = 4096;

/// Checks that `offsets` ([B] i32, `batch` of them once the sizes agree)
/// place T = `length` new tokens inside a cache of `slots` rows, then runs
/// `body`. Sizes that disagree are reported first.
void guardOffsets(TensorBoundary &tb, ArrayRef<std::pair<Value, Value>> sizes,
                  Value offsets, Value batch, Value length, Value slots,
                  function_ref<void(Emitter &)> body) {
  Emitter &e = tb.e;
  Value sizesAgree = tb.checkSizes(sizes);
  Value checked = e.select(sizesAgree, batch, e.idx(0));
  Value lastOffset = e.add(e.sub(slots, length), e.idx(1));
  Value fits = indicesInRange(tb, offsets, checked, e.idx(0), lastOffset);
  tb.guard(e.andI(sizesAgree, fits), FailureCode::CacheOffsetOutOfRange, body);
}

struct LowerCacheWrite : OpRewritePattern<CacheWriteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CacheWriteOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    tb.nameOperands({{op.getUpdate(), "update"},
                     {op.getOffsets(), "offsets"},
                     {op.getCache(), "cache"}});
    Value batch = tb.dim(op.getCache(), 0), slots = tb.dim(op.getCache(), 1);
    Value h = tb.dim(op.getCache(), 2), length = tb.dim(op.getUpdate(), 1);
    SmallVector<std::pair<Value, Value>> sizes = {
        {tb.dim(op.getUpdate(), 0), batch},
        {tb.dim(op.getOffsets(), 0), batch},
        {tb.dim(op.getUpdate(), 2), h}};
    Value update = tb.buffer(op.getUpdate());
    Value offsets = tb.buffer(op.getOffsets());
    // In buffer form the cache is written where it is; on tensors (lowered
    // before bufferization) a copy of it is.
    Value cache = op.getCache();
    if (!TensorBoundary::isBuffer(cache)) {
      Type elementType = cast<ShapedType>(cache.getType()).getElementType();
      Value copy = e.alloc(elementType, {batch, slots, h});
      memref::CopyOp::create(e.b, e.loc, tb.buffer(cache), copy);
      cache = copy;
    }

    guardOffsets(tb, sizes, offsets, batch, length, slots, [&](Emitter &g) {
      g.parallel(
          {batch, length},
          [&](Emitter &p, ValueRange ivs) {
            Value row = p.add(p.toIndex(p.load(offsets, {ivs[0]})), ivs[1]);
            p.loop(p.idx(0), h, [&](Emitter &x, Value c) {
              x.store(x.load(update, {ivs[0], ivs[1], c}), cache,
                      {ivs[0], row, c});
            });
          },
          kSerialRows);
    });

    if (op.getResult())
      rewriter.replaceOp(op, tb.result(cache, op.getResult().getType()));
    else
      rewriter.eraseOp(op);
    return success();
  }
};

/// Split-KV attention of the query rows [B, rows, h] (k per token) over the
/// cached keys and values [B, S, h], in blocks of kKeyBlock keys: each
/// (sequence, block) leaves per row its maximum score, the sum of exp(score
/// - maximum) and the exp-weighted sum of its values; the combine rescales
/// them to the rows' overall maximum.
struct SplitKeyAttention {
  Value query, keys, values, scale, k, h;
  Value partMax, partSum, partOut; // [B, blocks, rows] twice, [.., rows, h]

  /// A cache element as f32: the caches stay in their element type (a
  /// bf16 cache widened as a whole would cost a pass over it every step).
  static Value widened(Emitter &z, Value cache, ValueRange indices) {
    return z.castFloat(z.load(cache, indices), z.b.getF32Type());
  }

  /// Row r (token r / k) of sequence b over the keys [first, first + count)
  /// of block blk that it sees; `scores` [B, blocks, kKeyBlock] is scratch.
  void blockRow(Emitter &x, Value b, Value blk, Value r, Value first,
                Value count, Value scores) const {
    Value blockMax = x.loop(
        x.idx(0), count, {negInf(x)}, [&](Emitter &y, Value j, ValueRange m) {
          Value key = y.add(first, j);
          Value dot =
              y.loop(y.idx(0), h, {y.f32(0)},
                     [&](Emitter &z, Value c, ValueRange acc) {
                       Value q = z.load(query, {b, r, c});
                       Value kv = widened(z, keys, {b, key, c});
                       return SmallVector<Value>{z.sum(acc[0], z.mulf(q, kv))};
                     })[0];
          Value s = y.mulf(dot, scale);
          y.store(s, scores, {b, blk, j});
          return SmallVector<Value>{y.maxf(m[0], s)};
        })[0];
    Value sum = x.loop(
        x.idx(0), count, {x.f32(0)}, [&](Emitter &y, Value j, ValueRange acc) {
          Value w = y.exp(y.subf(y.load(scores, {b, blk, j}), blockMax));
          y.store(w, scores, {b, blk, j});
          return SmallVector<Value>{y.sum(acc[0], w)};
        })[0];
    x.store(blockMax, partMax, {b, blk, r});
    x.store(sum, partSum, {b, blk, r});
    x.loop(x.idx(0), h, [&](Emitter &y, Value c) {
      y.store(y.f32(0), partOut, {b, blk, r, c});
    });
    x.loop(x.idx(0), count, [&](Emitter &y, Value j) {
      Value w = y.load(scores, {b, blk, j});
      Value key = y.add(first, j);
      y.loop(y.idx(0), h, [&](Emitter &z, Value c) {
        Value v = widened(z, values, {b, key, c});
        Value acc = z.load(partOut, {b, blk, r, c});
        z.store(z.addf(acc, z.mulf(w, v)), partOut, {b, blk, r, c});
      });
    });
  }

  /// out[b, r] from the partials of the `blocks` blocks. A block the row does
  /// not reach has maximum -inf and adds nothing; every row sees at least
  /// its own key, so the overall maximum is finite (or NaN from NaN scores,
  /// which then propagates).
  void combineRow(Emitter &x, Value b, Value r, Value blocks, Value out) const {
    Value rowMax = x.loop(x.idx(0), blocks, {negInf(x)},
                          [&](Emitter &y, Value i, ValueRange m) {
                            return SmallVector<Value>{arith::MaximumFOp::create(
                                y.b, y.loc, m[0], y.load(partMax, {b, i, r}))};
                          })[0];
    auto zero = [&](Emitter &y, Value c) { y.store(y.f32(0), out, {b, r, c}); };
    x.loop(x.idx(0), h, zero);
    Value total = x.loop(
        x.idx(0), blocks, {x.f32(0)}, [&](Emitter &y, Value i, ValueRange t) {
          Value blockMax = y.load(partMax, {b, i, r});
          Value alpha =
              y.select(y.cmpf(arith::CmpFPredicate::OEQ, blockMax, negInf(y)),
                       y.f32(0), y.exp(y.subf(blockMax, rowMax)));
          y.loop(y.idx(0), h, [&](Emitter &z, Value c) {
            Value part = z.load(partOut, {b, i, r, c});
            z.store(z.addf(z.load(out, {b, r, c}), z.mulf(alpha, part)), out,
                    {b, r, c});
          });
          return SmallVector<Value>{
              y.addf(t[0], y.mulf(alpha, y.load(partSum, {b, i, r})))};
        })[0];
    Value inverse = x.divf(x.f32(1), total);
    x.loop(x.idx(0), h, [&](Emitter &y, Value c) {
      y.store(y.mulf(y.load(out, {b, r, c}), inverse), out, {b, r, c});
    });
  }
};

struct LowerCachedAttention : OpRewritePattern<CachedAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CachedAttentionOp op,
                                PatternRewriter &rewriter) const override {
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value queryTensor = tb.toF32(op.getQuery());
    Value keyTensor = op.getKeyCache(), valueTensor = op.getValueCache();
    tb.nameOperands({{queryTensor, "query"},
                     {keyTensor, "key_cache"},
                     {valueTensor, "value_cache"},
                     {op.getOffsets(), "offsets"}});
    Value batch = tb.dim(queryTensor, 0), length = tb.dim(queryTensor, 1);
    Value k = tb.dim(queryTensor, 2), h = tb.dim(queryTensor, 3);
    Value slots = tb.dim(keyTensor, 1);
    SmallVector<std::pair<Value, Value>> sizes = {
        {tb.dim(keyTensor, 0), batch},   {tb.dim(keyTensor, 2), h},
        {tb.dim(valueTensor, 0), batch}, {tb.dim(valueTensor, 1), slots},
        {tb.dim(valueTensor, 2), h},     {tb.dim(op.getOffsets(), 0), batch}};
    Value offsets = tb.buffer(op.getOffsets());
    Value rows = e.mul(length, k);
    Value result4 = e.alloc(e.b.getF32Type(), {batch, length, k, h});
    SplitKeyAttention attention;
    attention.query = tb.collapse(tb.buffer(queryTensor), {{0}, {1, 2}, {3}});
    attention.keys = tb.buffer(keyTensor);
    attention.values = tb.buffer(valueTensor);
    attention.scale = attentionScale(e, op.getScale(), h);
    attention.k = k;
    attention.h = h;

    guardOffsets(tb, sizes, offsets, batch, length, slots, [&](Emitter &g) {
      Value block = g.idx(kKeyBlock);
      Value longest = longestSequence(g, offsets, batch, length);
      Value blocks = g.ceilDiv(longest, block);
      Type f32 = g.b.getF32Type();
      attention.partMax = g.alloc(f32, {batch, blocks, rows});
      attention.partSum = g.alloc(f32, {batch, blocks, rows});
      attention.partOut = g.alloc(f32, {batch, blocks, rows, h});
      // One block of scores per (sequence, block), on the heap: the loop
      // may run serially, where a stack buffer per iteration would pile up.
      Value scores = g.alloc(f32, {batch, blocks, block});
      auto keyBlock = [&](Emitter &p, ValueRange ivs) {
        Value b = ivs[0], blk = ivs[1], first = p.mul(blk, block);
        Value offset = p.toIndex(p.load(offsets, {b}));
        p.loop(p.idx(0), rows, [&](Emitter &x, Value r) {
          // Token r / k sees the keys up to its position offset + r / k.
          Value visible = x.add(x.add(offset, x.div(r, k)), x.idx(1));
          Value count =
              x.min(block, arith::MaxSIOp::create(x.b, x.loc, x.idx(0),
                                                  x.sub(visible, first)));
          attention.blockRow(x, b, blk, r, first, count, scores);
        });
      };
      // Fewer query-key pairs than this: not worth waking a thread for.
      Value pairs = g.mul(g.mul(batch, rows), longest);
      g.parallel({batch, blocks}, keyBlock, kSerialPairs, pairs);
      Value out = tb.collapse(result4, {{0}, {1, 2}, {3}});
      g.parallel(
          {batch, rows},
          [&](Emitter &p, ValueRange ivs) {
            attention.combineRow(p, ivs[0], ivs[1], blocks, out);
          },
          kSerialRows);
    });

    rewriter.replaceOp(op, tb.narrowedResult(result4, op.getType()));
    return success();
  }

  /// The largest offset + length over the batch: where the last block ends.
  static Value longestSequence(Emitter &g, Value offsets, Value batch,
                               Value length) {
    return g.loop(
        g.idx(0), batch, {g.idx(0)}, [&](Emitter &x, Value b, ValueRange m) {
          Value end = x.add(x.toIndex(x.load(offsets, {b})), length);
          return SmallVector<Value>{
              arith::MaxSIOp::create(x.b, x.loc, m[0], end).getResult()};
        })[0];
  }
};

} // namespace

void mlir::moa::loops::populateDecodeLoopPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCacheWrite, LowerCachedAttention>(patterns.getContext());
}
