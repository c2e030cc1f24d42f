//===- GPUAttention.cpp - moa.multi_query_attention as GPU kernels --------===//
//
// Part of moa-lower-to-gpu: flash-style multi-query attention in one kernel,
// on the tensor cores for f16/bf16 (FlashAttention-2's scheme with
// mma.sync) and on CUDA cores otherwise; and decoding: moa.cache_write and
// split-KV moa.cached_attention (FlashDecoding), on the CUDA cores. A block's
// query rows are (token, slot) pairs, so the k slots of its tokens share every
// tile of keys and values staged in shared memory; no score matrix exists.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;

namespace {

/// CUDA cores: keys per tile (one per lane), rows per warp, warps per block.
constexpr int64_t kKeyTile = kWarp, kRowsPerWarp = 8, kAttentionWarps = 4;

/// Both kernels launch one block per (batch, tile of `rowsPerBlock` query
/// rows) along grid x (grid y stops at 65535); body(e, ids, shared, b,
/// firstRow) builds a block. A batch of size zero launches one block that
/// does nothing. Blocks go out last row tile first, each over all the
/// sequences: under a causal mask a later tile sees more keys, and handing
/// out the longest blocks first lets the short ones fill the last wave
/// (longest processing time first, as FlashAttention-3's causal scheduler).
void launchAttention(
    Emitter &e, Value batch, Value rowsPerBatch, Value rowsPerBlock,
    int64_t threads, ArrayRef<MemRefType> shared, Value ok, Value err,
    function_ref<void(Emitter &, const Kernel &, ValueRange, Value, Value)>
        body,
    int64_t dynamicSharedBytes = 0) {
  Value rowTiles = atLeastOne(e, e.ceilDiv(rowsPerBatch, rowsPerBlock));
  launch(
      e, "moa_attention", atLeastOne(e, e.mul(rowTiles, batch)), e.idx(1),
      threads, shared,
      [&](Emitter &kernel, const Kernel &ids, ValueRange buffers) {
        whenShapesAgree(kernel, ids, ok, err, [&](Emitter &g) {
          Value blocks = g.mul(rowTiles, batch);
          g.ifThen(g.cmp(arith::CmpIPredicate::ult, ids.bidX, blocks),
                   [&](Emitter &x) {
                     Value b =
                         arith::RemUIOp::create(x.b, x.loc, ids.bidX, batch);
                     Value tile = x.sub(x.sub(rowTiles, x.idx(1)),
                                        x.div(ids.bidX, batch));
                     body(x, ids, buffers, b, x.mul(tile, rowsPerBlock));
                   });
        });
      },
      dynamicSharedBytes);
}

/// What both attention kernels read and write.
struct AttentionArgs {
  Value err, ok, query, key, value, mask, out;
  Value batch, keys, rowsPerBatch, k;
  int64_t h;
  float scale;
  bool causal;
  Type element;
  Value lse = {}; // [B, rows] row log-sum-exp (with_lse), or null
};

/// Query rows per warp of the tensor-core kernel (its keys per tile are
/// GPUTiling::attentionKeys).
constexpr int64_t kMmaRows = 16;

/// What the online softmax scales a row's sum and output by when its
/// maximum moves from `oldMax` to `newMax` (0 if it saw no key yet).
Value rescaleFactor(Emitter &x, Value oldMax, Value newMax) {
  return x.select(x.cmpf(arith::CmpFPredicate::OEQ, oldMax, negInf(x)),
                  x.f32(0), x.exp(x.subf(oldMax, newMax)));
}

/// bar.sync of barrier `id` (an index; 0 is the block's) by `threads`
/// threads.
void namedBarrier(Emitter &x, Value id, int64_t threads) {
  Type i32 = x.b.getI32Type();
  NVVM::BarrierOp::create(
      x.b, x.loc, TypeRange{}, arith::IndexCastOp::create(x.b, x.loc, i32, id),
      arith::ConstantIntOp::create(x.b, x.loc, threads, 32), {}, Value());
}

/// Whether the tensor-core kernel runs `op`: q, k and v of one 16-bit type
/// and h a multiple of 16 up to 128 (the output accumulators of a warp's 16
/// rows are h/2 registers per thread).
bool attentionOnTensorCores(Type query, Type key, Type value, int64_t h) {
  return query == key && key == value && (query.isF16() || query.isBF16()) &&
         h % 16 == 0 && h <= 128;
}

/// lse[b, row] = max + log(sum) of a row's online softmax, -inf for a row
/// that saw no key (as the backward expects).
void storeLogSumExp(Emitter &x, const AttentionArgs &a, Value b, Value row,
                    Value max, Value sum) {
  Value seen = x.cmpf(arith::CmpFPredicate::UGT, sum, x.f32(0));
  x.store(x.select(seen, x.addf(max, x.log(sum)), negInf(x)), a.lse, {b, row});
}

/// One warp of the tensor-core attention kernel: 16 query rows (token,
/// slot), A = group and B = group + 8 of the m16n8 fragment layout, and the
/// steps of one key tile.
struct TensorCoreAttentionWarp {
  const AttentionArgs &a;
  const Kernel &ids;
  Value b, kTile, vTile;
  /// The warp's index among the block's row warps, its first row's.
  Value warp, blockRow, group, quad, rowA, rowB, okA, okB, tokenA, tokenB;
  int64_t h, keysPerTile;
  Type element;

  int64_t dimTiles() const { return h / 8; }

  /// Q's A fragments, loaded once: rows A/B, dims 2q, 2q+1 (+8).
  SmallVector<SmallVector<Value>> queryFragments(Emitter &g) const {
    Value zero16 = zeroOf(g, element);
    auto q = [&](Value ok, Value row, Value dim) {
      return loadIf(g, ok, a.query, {b, g.select(ok, row, g.idx(0)), dim},
                    zero16);
    };
    auto pair = [&](Value ok, Value row, Value d) {
      return pack16(g, q(ok, row, d), q(ok, row, g.add(d, g.idx(1))));
    };
    SmallVector<SmallVector<Value>> fragments;
    for (int64_t ks = 0; ks < h; ks += 16) {
      Value d0 = g.add(g.idx(ks), g.mul(quad, g.idx(2)));
      Value d8 = g.add(d0, g.idx(8));
      fragments.push_back({pair(okA, rowA, d0), pair(okB, rowB, d0),
                           pair(okA, rowA, d8), pair(okB, rowB, d8)});
    }
    return fragments;
  }

  /// Keys [first, first + keysPerTile) of K and V into shared memory, both
  /// as [key][dim] and zero beyond the sequence: 16-byte cp.async copies
  /// (rows of h 16-bit elements, h a multiple of 16, stay aligned).
  void stageTile(Emitter &x, Value first) const {
    const int64_t chunks = keysPerTile * h / 8, threads = 4 * kWarp;
    for (int64_t it = 0; it * threads < chunks; ++it) {
      auto copy = [&](Emitter &y) {
        Value i = y.add(ids.tid, y.idx(it * threads));
        Value j = y.div(i, y.idx(h / 8));
        Value c = y.mul(arith::RemUIOp::create(y.b, y.loc, i, y.idx(h / 8)),
                        y.idx(8));
        Value s = y.add(first, j);
        Value in = y.cmp(arith::CmpIPredicate::ult, s, a.keys);
        Value count = y.select(in, y.idx(8), y.idx(0));
        Value source = y.select(in, s, y.idx(0));
        copy8(y, kTile, {j, c}, a.key, {b, source, c}, count, Value());
        copy8(y, vTile, {j, c}, a.value, {b, source, c}, count, Value());
      };
      if ((it + 1) * threads <= chunks)
        copy(x);
      else
        x.ifThen(x.cmp(arith::CmpIPredicate::ult,
                       x.add(ids.tid, x.idx(it * threads)), x.idx(chunks)),
                 copy);
    }
    asyncWaitAll(x);
  }

  /// S = Q K^T of the tile on mma.sync, one m16n8 tile per 8 keys (their
  /// fragments in order). K's fragments: ldmatrix of [key][dim].
  SmallVector<Value> rawScores(Emitter &x,
                               ArrayRef<SmallVector<Value>> qFrags) const {
    SmallVector<SmallVector<Value>> acc(keysPerTile / 8,
                                        SmallVector<Value>(4, x.f32(0)));
    for (int64_t ks = 0; ks < h / 16; ++ks)
      for (int64_t np = 0; np < keysPerTile / 16; ++np) {
        auto bFrags = loadFragmentsB(x, kTile, ids.lane, x.idx(ks * 16),
                                     x.idx(np * 16), /*kMajor=*/false);
        for (int64_t half = 0; half < 2; ++half) {
          SmallVector<Value> &tile = acc[2 * np + half];
          tile = mmaSync16816(x, element, qFrags[ks], bFrags[half], tile);
        }
      }
    SmallVector<Value> flat;
    for (ArrayRef<Value> tile : acc)
      flat.append(tile.begin(), tile.end());
    return flat;
  }

  /// S's fragments (raw Q K^T, m16n8 tiles in order) scaled, with invisible
  /// keys (beyond the sequence, padded, or after the token) at -inf;
  /// `visible` says which.
  SmallVector<Value> maskedScores(Emitter &x, Value first, ArrayRef<Value> raw,
                                  SmallVectorImpl<Value> &visible) const {
    SmallVector<Value> result;
    for (int64_t ni = 0; ni < keysPerTile / 8; ++ni) {
      for (int64_t c = 0; c < 4; ++c) {
        Value s =
            x.add(first, x.add(x.idx(ni * 8 + c % 2), x.mul(quad, x.idx(2))));
        Value seen = x.andI(x.cmp(arith::CmpIPredicate::ult, s, a.keys),
                            c < 2 ? okA : okB);
        if (a.mask)
          seen = x.andI(
              seen,
              x.notI(loadIf(x, seen, a.mask, {b, s},
                            arith::ConstantIntOp::create(x.b, x.loc, 0, 1))));
        if (a.causal)
          seen = x.andI(seen, x.cmp(arith::CmpIPredicate::ule, s,
                                    c < 2 ? tokenA : tokenB));
        visible.push_back(seen);
        result.push_back(
            x.select(seen, x.mulf(raw[ni * 4 + c], x.f32(a.scale)), negInf(x)));
      }
    }
    return result;
  }

  /// Online softmax per row (A: c = 0, 1; B: c = 2, 3): the tile's
  /// probabilities, the rescaling of what came before (`alpha`) and the new
  /// running maxima and sums in next[0..3].
  SmallVector<Value> softmax(Emitter &x, ArrayRef<Value> scoreFrags,
                             ArrayRef<Value> visible, ValueRange carried,
                             SmallVectorImpl<Value> &next,
                             Value (&alpha)[2]) const {
    SmallVector<Value> probs(scoreFrags.size());
    for (int64_t half = 0; half < 2; ++half) {
      Value tileMax = negInf(x);
      for (size_t i = 0; i < scoreFrags.size(); ++i)
        if (int64_t(i % 4) / 2 == half)
          tileMax = x.maxf(tileMax, scoreFrags[i]);
      Value oldMax = carried[half];
      Value newMax = x.maxf(oldMax, quadMax(x, tileMax));
      // UNE: a NaN maximum (a NaN score) propagates instead of zeroing.
      Value any = x.cmpf(arith::CmpFPredicate::UNE, newMax, negInf(x));
      Value sum = x.f32(0);
      for (size_t i = 0; i < scoreFrags.size(); ++i) {
        if (int64_t(i % 4) / 2 != half)
          continue;
        probs[i] = x.select(x.andI(visible[i], any),
                            x.exp(x.subf(scoreFrags[i], newMax)), x.f32(0));
        sum = x.addf(sum, probs[i]);
      }
      alpha[half] = rescaleFactor(x, oldMax, newMax);
      next[half] = x.select(any, newMax, oldMax);
      next[2 + half] =
          x.addf(x.mulf(carried[2 + half], alpha[half]), quadSum(x, sum));
    }
    return probs;
  }

  /// O += P V: S's accumulator fragments are P's A fragments; V's are
  /// ldmatrix (transposed) of [key][dim].
  void accumulateValues(Emitter &x, ArrayRef<Value> probs,
                        MutableArrayRef<Value> out) const {
    auto p16 = [&](size_t i) { return fromF32(x, probs[i], element); };
    for (int64_t j = 0; j < keysPerTile / 16; ++j) {
      size_t t0 = 2 * j * 4, t1 = (2 * j + 1) * 4;
      SmallVector<Value> pFrag = {
          pack16(x, p16(t0), p16(t0 + 1)), pack16(x, p16(t0 + 2), p16(t0 + 3)),
          pack16(x, p16(t1), p16(t1 + 1)), pack16(x, p16(t1 + 2), p16(t1 + 3))};
      for (int64_t np = 0; np < dimTiles() / 2; ++np) {
        auto bFrags = loadFragmentsB(x, vTile, ids.lane, x.idx(j * 16),
                                     x.idx(np * 16), /*kMajor=*/true);
        for (int64_t half = 0; half < 2; ++half) {
          int64_t nd = 2 * np + half;
          SmallVector<Value> acc =
              mmaSync16816(x, element, pFrag, bFrags[half],
                           ArrayRef<Value>(out).slice(nd * 4, 4));
          std::copy(acc.begin(), acc.end(), out.begin() + nd * 4);
        }
      }
    }
  }

  /// Which of the warp's rows (0: A, 1: B) state value i (i >= 2) is of:
  /// sums 2 and 3, then output fragments c = 0, 1 (A) and 2, 3 (B).
  static int64_t rowOf(size_t i) { return i < 4 ? i - 2 : ((i - 4) % 4) / 2; }

  /// The state before the first key tile: maxima and sums of rows A and B,
  /// then the output fragments.
  SmallVector<Value> initialState(Emitter &x) const {
    SmallVector<Value> init = {negInf(x), negInf(x), x.f32(0), x.f32(0)};
    init.append(dimTiles() * 4, x.f32(0));
    return init;
  }

  /// The online softmax's step on a tile's scores: the new state (maxima,
  /// sums, then the output fragments rescaled to the new maxima), the
  /// tile's probabilities in `probs`.
  SmallVector<Value> rescale(Emitter &x, ArrayRef<Value> scoreFrags,
                             ArrayRef<Value> visible, ValueRange carried,
                             SmallVector<Value> &probs) const {
    SmallVector<Value> next(carried.begin(), carried.end());
    Value alpha[2];
    probs = softmax(x, scoreFrags, visible, carried, next, alpha);
    for (size_t i = 4; i < next.size(); ++i)
      next[i] = x.mulf(next[i], alpha[rowOf(i)]);
    return next;
  }

  /// One key tile: stage, S, softmax, O += P V; returns the new state.
  SmallVector<Value> keyTile(Emitter &x, Value tile,
                             ArrayRef<SmallVector<Value>> qFrags,
                             ValueRange carried) const {
    Value first = x.mul(tile, x.idx(keysPerTile));
    stageTile(x, first);
    barrier(x);
    SmallVector<Value> visible, probs;
    SmallVector<Value> scores =
        maskedScores(x, first, rawScores(x, qFrags), visible);
    SmallVector<Value> next = rescale(x, scores, visible, carried, probs);
    accumulateValues(x, probs, MutableArrayRef<Value>(next).drop_front(4));
    barrier(x);
    return next;
  }

  /// Normalise; a row that saw no key writes zeros. The first lane of a
  /// quad writes its rows' log-sum-exp (with_lse).
  void writeOutput(Emitter &g, ArrayRef<Value> state) const {
    if (a.lse)
      for (int64_t half = 0; half < 2; ++half)
        g.ifThen(g.andI(half ? okB : okA,
                        g.cmp(arith::CmpIPredicate::eq, quad, g.idx(0))),
                 [&](Emitter &y) {
                   storeLogSumExp(y, a, b, half ? rowB : rowA, state[half],
                                  state[2 + half]);
                 });
    for (int64_t nd = 0; nd < dimTiles(); ++nd)
      for (int64_t c = 0; c < 4; ++c) {
        Value row = c < 2 ? rowA : rowB;
        Value sum = state[2 + c / 2];
        Value dim = g.add(g.idx(nd * 8 + c % 2), g.mul(quad, g.idx(2)));
        g.ifThen(c < 2 ? okA : okB, [&](Emitter &y) {
          Value o = y.select(y.cmpf(arith::CmpFPredicate::UGT, sum, y.f32(0)),
                             y.divf(state[4 + nd * 4 + c], sum), y.f32(0));
          y.store(fromF32(y, o, element), a.out, {b, row, dim});
        });
      }
  }
};

/// A block of the tensor-core attention: its sequence, its first query
/// row and its number of key tiles.
struct AttentionBlock {
  Value b, blockRow, tiles;
};

/// Launches the tensor-core attention: blocks of `threads` threads taking
/// `rowsPerBlock` query rows (token, slot) each;
/// block(g, ids, shared, blk) builds a block.
void launchTensorCoreAttention(
    Emitter &e, const AttentionArgs &a, int64_t keysPerTile, Value rowsPerBlock,
    int64_t threads, ArrayRef<MemRefType> shared,
    function_ref<void(Emitter &, const Kernel &, ValueRange,
                      const AttentionBlock &)>
        block,
    int64_t dynamicSharedBytes = 0) {
  launchAttention(
      e, a.batch, a.rowsPerBatch, rowsPerBlock, threads, shared, a.ok, a.err,
      [&](Emitter &g, const Kernel &ids, ValueRange buffers, Value b,
          Value blockRow) {
        // k = 0 leaves no rows; divide by at least 1.
        Value lastRow = g.min(g.sub(g.add(blockRow, rowsPerBlock), g.idx(1)),
                              g.sub(atLeastOne(g, a.rowsPerBatch), g.idx(1)));
        Value visibleKeys =
            a.causal
                ? g.min(g.add(g.div(lastRow, atLeastOne(g, a.k)), g.idx(1)),
                        a.keys)
                : a.keys;
        block(g, ids, buffers,
              {b, blockRow, g.ceilDiv(visibleKeys, g.idx(keysPerTile))});
      },
      dynamicSharedBytes);
}

/// Row warp `warp` of block `blk`: A = group and B = group + 8 of the m16n8
/// fragment layout (wgmma's m64 accumulator has the same).
TensorCoreAttentionWarp rowWarp(Emitter &g, const AttentionArgs &a,
                                const Kernel &ids, const AttentionBlock &blk,
                                Value warp, int64_t keysPerTile,
                                Value kTile = {}, Value vTile = {}) {
  TensorCoreAttentionWarp w{a, ids, blk.b, kTile, vTile};
  w.h = a.h;
  w.keysPerTile = keysPerTile;
  w.element = a.element;
  w.warp = warp;
  w.blockRow = blk.blockRow;
  w.group = g.div(ids.lane, g.idx(4));
  w.quad = arith::RemUIOp::create(g.b, g.loc, ids.lane, g.idx(4));
  w.rowA = g.add(g.add(blk.blockRow, g.mul(warp, g.idx(kMmaRows))), w.group);
  w.rowB = g.add(w.rowA, g.idx(8));
  w.okA = g.cmp(arith::CmpIPredicate::ult, w.rowA, a.rowsPerBatch);
  w.okB = g.cmp(arith::CmpIPredicate::ult, w.rowB, a.rowsPerBatch);
  Value slots = atLeastOne(g, a.k);
  w.tokenA = g.div(w.rowA, slots);
  w.tokenB = g.div(w.rowB, slots);
  return w;
}

/// Runs loop(g, init) over the key tiles from the initial state (max and
/// sum of rows A and B, then the output fragments) and writes w's rows.
void attendRows(Emitter &g, const TensorCoreAttentionWarp &w,
                function_ref<SmallVector<Value>(Emitter &, ValueRange)> loop) {
  w.writeOutput(g, loop(g, w.initialState(g)));
}

/// Flash attention on the tensor cores (FlashAttention-2's scheme with
/// mma.sync m16n8k16): a block's 4 warps take 16 query rows (token, slot)
/// each; per tile of `keysPerTile` keys staged in shared memory by cp.async
/// (K and V as [key][dim]; ldmatrix reads K's fragments as they are and V's
/// transposed), S = Q K^T on the
/// tensor cores with Q's fragments held in registers, the online softmax on
/// S's accumulator fragments (row max and sum over the 4 lanes of a quad),
/// then P, rounded to the 16-bit type, is reused in registers as the A
/// operand of O += P V. f32 accumulation throughout.
void emitTensorCoreAttention(Emitter &e, const AttentionArgs &a,
                             int64_t keysPerTile) {
  MemRefType tile = ldmatrixTile(keysPerTile, a.h, a.element);
  launchTensorCoreAttention(
      e, a, keysPerTile, e.idx(4 * kMmaRows), 4 * kWarp, {tile, tile},
      [&](Emitter &g, const Kernel &ids, ValueRange buffers,
          const AttentionBlock &blk) {
        TensorCoreAttentionWarp w = rowWarp(
            g, a, ids, blk, ids.warp, keysPerTile, buffers[0], buffers[1]);
        attendRows(g, w, [&](Emitter &x, ValueRange init) {
          SmallVector<SmallVector<Value>> qFrags = w.queryFragments(x);
          return x.loop(x.idx(0), blk.tiles, init,
                        [&](Emitter &y, Value tile, ValueRange carried) {
                          return w.keyTile(y, tile, qFrags, carried);
                        });
        });
      });
}

/// sm_90a: FlashAttention-3's structure, a block of one producer
/// warpgroup and kConsumers consumer warpgroups, each consumer's 64 query
/// rows wgmma's M, all sharing each tile of K and V (half the loads per
/// flop of one consumer a block). In shared memory, in the 128-byte
/// swizzle, [64][64] tiles per 64 dimensions: Q (loaded once), and K and V
/// in two stage slots. The producer's thread 0 loads key tile t's boxes by
/// TMA into slot t % 2 (completing its `full` mbarrier) as soon as the
/// consumers have released that slot (its `empty` one) after tile t - 2,
/// so loads run ahead of the tensor cores and the consumers never wait for
/// each other. The producer gives up registers the consumers take
/// (setmaxnreg). S = Q K^T is one wgmma m64n64k16 per 16 dimensions (K the
/// K-major B); its fragments are the mma.sync kernel's, so the masking and
/// online softmax are that kernel's; P, rounded to the 16-bit type, goes to
/// a tile of its warpgroup's (nvgpu's wgmma reads A from shared memory
/// only), and O += P V is one wgmma m64nhk16 per 16 keys (V the N-major B;
/// h <= 256, else pieces of 256), which reads P once. A consumer syncs its
/// own warpgroup only (named barriers). Shared memory: (kConsumers + 4) h /
/// 64 + kConsumers tiles of 8 KiB (112 KiB at h = 128). A grid too small
/// for the machine runs blocks of 64 rows whose consumers split the keys
/// (`split`; joinSplit merges their states), at the cost of K's and V's
/// loads per flop of one consumer a block.
struct WarpgroupAttention {
  /// Consumer warpgroups a block.
  static constexpr int64_t kConsumers = 2;
  /// 64-wide tiles of V one wgmma of O += P V covers (N = 256 at most).
  static constexpr int64_t kPieceTiles = 256 / hopper::kTile;
  /// Registers a thread of the producer and of a consumer keeps: 384
  /// threads launch with at most 168 each; the producer's 144 spare ones
  /// make the consumers' 72 more (FlashAttention-3's 24 and 240).
  static constexpr int32_t kProducerRegisters = 24, kConsumerRegisters = 240;
  /// The tensor maps of Q, K and V (host values).
  struct Maps {
    Value query, key, value;
  };

  const AttentionArgs &a;
  const Kernel &ids;
  const AttentionBlock &blk;
  Maps maps;
  /// Whether the block's consumers split its keys (the block has 64 rows;
  /// consumer c takes the key tiles t with t % 2 = c, so slot c only).
  Value split;
  Value region, layout, full, empty;

  WarpgroupAttention(Emitter &x, const AttentionArgs &a, const Kernel &ids,
                     const AttentionBlock &blk, Maps maps, Value split)
      : a(a), ids(ids), blk(blk), maps(maps), split(split) {
    region = hopper::sharedRegion(x, bytes(a.h));
    layout = hopper::layoutOnlyMap(x, a.element);
    full = hopper::createMBarriers(x, ids, 2, 1); // the producer's expect_tx
    // An arrival per warp of the consumers that read the slot.
    empty = hopper::createMBarriers(
        x, ids, 2, x.select(split, x.idx(4), x.idx(4 * kConsumers)));
    barrier(x);
  }

  static int64_t threads() { return (1 + kConsumers) * 4 * kWarp; }
  int64_t chunks() const { return a.h / hopper::kTile; }
  /// The first tile of operand `which` (0: Q, 1: K, 2: V, 3: P): Q's
  /// kConsumers x chunks() tiles, then K's and V's two slots of chunks()
  /// each, then P's.
  int64_t firstTile(int64_t which) const {
    return which == 0 ? 0 : (kConsumers + 2 * (which - 1)) * chunks();
  }
  /// The first tile of K's (which = 1) or V's (2) slot `slot`.
  Value slotTile(Emitter &x, int64_t which, Value slot) const {
    return x.add(x.idx(firstTile(which)), x.mul(slot, x.idx(chunks())));
  }
  /// A `shape` view of the 16-bit elements `skip` bytes into tile `tile`.
  Value view(Emitter &x, Value tile, int64_t skip,
             ArrayRef<int64_t> shape) const {
    return hopper::sharedView(
        x, region, x.add(x.mul(tile, x.idx(hopper::kTileBytes)), x.idx(skip)),
        shape, a.element);
  }
  /// Bytes of shared memory for head size h.
  static int64_t bytes(int64_t h) {
    return ((kConsumers + 4) * (h / hopper::kTile) + kConsumers) *
           hopper::kTileBytes;
  }

  /// K's and V's boxes of key tile `tile` into slot `slot` by TMA, their
  /// bytes expected on the slot's `full` mbarrier; `withQuery`: also the
  /// block's Q tiles. Rows past a tensor arrive as zeros.
  void load(Emitter &x, Value tile, Value slot, bool withQuery) const {
    // Q's tiles: one consumer's when they split the keys.
    Value queryTiles = x.select(split, x.idx(1), x.idx(kConsumers));
    Value boxes = x.mul(x.add(x.idx(2), withQuery ? queryTiles : x.idx(0)),
                        x.idx(chunks()));
    nvgpu::MBarrierArriveExpectTxOp::create(
        x.b, x.loc, full, x.mul(boxes, x.idx(hopper::kTileBytes)), slot,
        Value());
    auto box = [&](Value map, Value tile, Value row, int64_t c) {
      nvgpu::TmaAsyncLoadOp::create(
          x.b, x.loc, view(x, tile, 0, {1, hopper::kTile, hopper::kTile}), full,
          map, ValueRange{x.idx(c * hopper::kTile), row, blk.b}, slot, Value(),
          Value());
    };
    Value first = x.mul(tile, x.idx(hopper::kTile));
    for (int64_t c = 0; c < chunks(); ++c) {
      box(maps.key, x.add(slotTile(x, 1, slot), x.idx(c)), first, c);
      box(maps.value, x.add(slotTile(x, 2, slot), x.idx(c)), first, c);
    }
    for (int64_t g = 0; g < (withQuery ? kConsumers : 0); ++g)
      x.ifThen(x.cmp(arith::CmpIPredicate::ult, x.idx(g), queryTiles),
               [&](Emitter &y) {
                 for (int64_t c = 0; c < chunks(); ++c)
                   box(maps.query, y.idx(g * chunks() + c),
                       y.add(blk.blockRow, y.idx(g * hopper::kTile)), c);
               });
  }

  /// The producer warpgroup: its thread 0 loads tile 0 with Q, then each
  /// tile t once the consumers released slot t % 2 after tile t - 2.
  void produce(Emitter &x) const {
    NVVM::SetMaxRegisterOp::create(x.b, x.loc, kProducerRegisters,
                                   NVVM::SetMaxRegisterAction::decrease);
    Value some = x.cmp(arith::CmpIPredicate::ugt, blk.tiles, x.idx(0));
    x.ifThen(x.andI(isZero(x, ids.tid), some), [&](Emitter &y) {
      load(y, y.idx(0), y.idx(0), /*withQuery=*/true);
      y.loop(y.idx(1), blk.tiles, [&](Emitter &z, Value tile) {
        Value slot = arith::RemUIOp::create(z.b, z.loc, tile, z.idx(2));
        z.ifThen(z.cmp(arith::CmpIPredicate::uge, tile, z.idx(2)),
                 [&](Emitter &u) {
                   hopper::waitPhase(u, empty, slot,
                                     u.sub(u.div(tile, u.idx(2)), u.idx(1)));
                 });
        load(z, tile, slot, /*withQuery=*/false);
      });
    });
  }

  void consume(Emitter &x, Value warp) const;
  SmallVector<Value> joinSplit(Emitter &x, Value consumer,
                               ValueRange state) const;
};

/// A thread of a consumer warpgroup of WarpgroupAttention.
struct WarpgroupConsumer {
  const WarpgroupAttention &wa;
  TensorCoreAttentionWarp &w;
  /// The consumer's index, its first tile of Q and its tile of P.
  Value consumer, qTile, pTile;

  WarpgroupConsumer(Emitter &x, const WarpgroupAttention &wa,
                    TensorCoreAttentionWarp &w, Value consumer)
      : wa(wa), w(w), consumer(consumer) {
    qTile = x.select(wa.split, x.idx(0), x.mul(consumer, x.idx(wa.chunks())));
    pTile = x.add(x.idx(wa.firstTile(3)), consumer);
  }

  /// bar.sync of this consumer's 128 threads (barrier 0 is the block's).
  void syncWarpgroup(Emitter &x) const {
    namedBarrier(x, x.add(consumer, x.idx(1)), 4 * kWarp);
  }

  /// S = Q K^T for this warpgroup's rows: per 16 dimensions one wgmma
  /// m64n64k16 on views 32 bytes further along the swizzled rows of Q's and
  /// K's tiles.
  SmallVector<Value> rawScores(Emitter &x, Value slot) const {
    Value acc = nvgpu::WarpgroupMmaInitAccumulatorOp::create(
        x.b, x.loc, hopper::accumulatorType(x.b.getContext()));
    const int64_t steps = w.h / 16;
    for (int64_t s = 0; s < steps; ++s) {
      int64_t c = s / 4, skip = (s % 4) * 32;
      acc = hopper::warpgroupMma(
          x, wa.view(x, x.add(qTile, x.idx(c)), skip, {hopper::kTile, 16}),
          wa.view(x, x.add(wa.slotTile(x, 1, slot), x.idx(c)), skip,
                  {16, hopper::kTile}),
          wa.layout, acc,
          /*bKMajor=*/true, /*pending=*/s + 1 < steps ? 1 : 0);
    }
    return hopper::fragment(x, acc);
  }
  /// P's fragments, rounded to the 16-bit type, into the warpgroup's [64
  /// rows][64 keys] swizzled tile: a 32-bit store per pair of keys (the 4
  /// lanes of a quad and the 8 rows of a warp's half fill the 32 banks).
  void storeProbabilities(Emitter &x, ArrayRef<Value> probs) const {
    Value pairs = hopper::sharedView(
        x, wa.region, x.mul(pTile, x.idx(hopper::kTileBytes)),
        {hopper::kTile, hopper::kTile / 2}, x.b.getI32Type());
    Value warp = arith::RemUIOp::create(x.b, x.loc, w.warp, x.idx(4));
    Value rowA = x.add(x.mul(warp, x.idx(kMmaRows)), w.group);
    for (int64_t j = 0; j < hopper::kTile / 8; ++j)
      for (int64_t half = 0; half < 2; ++half) {
        Value row = x.add(rowA, x.idx(8 * half));
        Value col =
            x.add(x.div(hopper::swizzledColumn(x, row, x.idx(8 * j)), x.idx(2)),
                  w.quad);
        size_t i = 4 * j + 2 * half;
        x.store(packBits(x, probs[i], probs[i + 1]), pairs, {row, col});
      }
  }

  /// Two f32 as their 16-bit roundings in one i32, `low` first.
  Value packBits(Emitter &x, Value low, Value high) const {
    Type i16 = x.b.getI16Type(), i32 = x.b.getI32Type();
    auto bits = [&](Value v) {
      Value narrow =
          arith::BitcastOp::create(x.b, x.loc, i16, fromF32(x, v, w.element));
      return arith::ExtUIOp::create(x.b, x.loc, i32, narrow).getResult();
    };
    Value shifted =
        arith::ShLIOp::create(x.b, x.loc, bits(high),
                              arith::ConstantIntOp::create(x.b, x.loc, 16, 32));
    return arith::OrIOp::create(x.b, x.loc, shifted, bits(low));
  }

  /// Key tile `tile` from slot `slot`, once loaded: S, softmax, P to
  /// shared memory, O += P V, then the slot released to the producer.
  SmallVector<Value> keyTile(Emitter &x, Value tile, Value slot,
                             ValueRange carried) const {
    hopper::waitPhase(x, wa.full, slot, x.div(tile, x.idx(2)));
    SmallVector<Value> visible, probs;
    SmallVector<Value> scores = w.maskedScores(
        x, x.mul(tile, x.idx(hopper::kTile)), rawScores(x, slot), visible);
    SmallVector<Value> next = w.rescale(x, scores, visible, carried, probs);
    storeProbabilities(x, probs);
    hopper::fenceProxyAsync(x);
    syncWarpgroup(x);
    // O += P V over as many dimensions as one wgmma takes (N <= 256): V's
    // tiles lie side by side as an N-major B expects, and the m64nN
    // accumulator's fragments are those of its 64-wide tiles in order.
    Value p = wa.view(x, pTile, 0, {hopper::kTile, hopper::kTile});
    const int64_t chunks = wa.chunks();
    for (int64_t c = 0; c < chunks; c += WarpgroupAttention::kPieceTiles) {
      const int64_t pieces =
          std::min(WarpgroupAttention::kPieceTiles, chunks - c);
      MutableArrayRef<Value> out = MutableArrayRef<Value>(next).slice(
          4 + c * hopper::kTile / 2, pieces * hopper::kTile / 2);
      Value acc = hopper::warpgroupMma(
          x, p,
          wa.view(x, x.add(wa.slotTile(x, 2, slot), x.idx(c)), 0,
                  {hopper::kTile, pieces * hopper::kTile}),
          wa.layout, hopper::accumulator(x, out));
      llvm::copy(hopper::fragment(x, acc), out.begin());
    }
    // The warp's wgmma are complete: K's and V's slot is free.
    x.ifThen(isZero(x, w.ids.lane), [&](Emitter &y) {
      nvgpu::MBarrierArriveOp::create(
          y.b, y.loc, nvgpu::MBarrierTokenType::get(y.b.getContext()), wa.empty,
          slot);
    });
    syncWarpgroup(x); // before P is overwritten
    return next;
  }
};

/// bar.sync of both consumers' threads (ids 1 and 2 are each one's).
void syncConsumers(Emitter &x) {
  namedBarrier(x, x.idx(1 + WarpgroupAttention::kConsumers),
               WarpgroupAttention::kConsumers * 4 * kWarp);
}

/// A consumer warpgroup: its setmaxnreg, then its rows (`warp` is the
/// thread's warp among the consumers'): every key tile, or when the
/// consumers split the keys every other one, joined at the end.
void WarpgroupAttention::consume(Emitter &x, Value warp) const {
  NVVM::SetMaxRegisterOp::create(x.b, x.loc, kConsumerRegisters,
                                 NVVM::SetMaxRegisterAction::increase);
  Value consumer = x.div(warp, x.idx(4));
  Value rowWarpIndex =
      x.select(split, arith::RemUIOp::create(x.b, x.loc, warp, x.idx(4)), warp);
  TensorCoreAttentionWarp w =
      rowWarp(x, a, ids, blk, rowWarpIndex, hopper::kTile);
  WarpgroupConsumer c(x, *this, w, consumer);
  Value first = x.select(split, consumer, x.idx(0));
  Value stride = x.select(split, x.idx(2), x.idx(1));
  Value count = x.select(x.cmp(arith::CmpIPredicate::ugt, blk.tiles, first),
                         x.ceilDiv(x.sub(blk.tiles, first), stride), x.idx(0));
  Emitter named(x.b, NameLoc::get(x.b.getStringAttr("main loop"), x.loc));
  SmallVector<Value> state =
      named.loop(named.idx(0), count, w.initialState(x),
                 [&](Emitter &z, Value i, ValueRange carried) {
                   Value tile = z.add(first, z.mul(i, stride));
                   Value slot =
                       arith::RemUIOp::create(z.b, z.loc, tile, z.idx(2));
                   return c.keyTile(z, tile, slot, carried);
                 });
  state = joinSplit(x, consumer, state);
  x.ifThen(x.orI(x.notI(split), isZero(x, consumer)),
           [&](Emitter &y) { w.writeOutput(y, state); });
}

/// When the consumers split the keys: consumer 1 hands its rows' state
/// (maxima, sums, output fragments) to consumer 0 through K's and V's
/// slots (all loads are done), a word per thread and value, and consumer 0
/// returns the two merged as the online softmax merges tiles. Otherwise
/// `state` as it is.
SmallVector<Value> WarpgroupAttention::joinSplit(Emitter &x, Value consumer,
                                                 ValueRange state) const {
  Type f32 = x.b.getF32Type();
  auto join =
      scf::IfOp::create(x.b, x.loc, SmallVector<Type>(state.size(), f32), split,
                        /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(x.b);
    x.b.setInsertionPointToStart(join.thenBlock());
    Emitter y(x.b, x.loc);
    Value exchange =
        hopper::sharedView(y, region, y.idx(firstTile(1) * hopper::kTileBytes),
                           {int64_t(state.size()), 4 * kWarp}, f32);
    Value thread =
        arith::RemUIOp::create(y.b, y.loc, ids.tid, y.idx(4 * kWarp));
    syncConsumers(y);
    y.ifThen(y.cmp(arith::CmpIPredicate::eq, consumer, y.idx(1)),
             [&](Emitter &z) {
               for (auto [i, v] : llvm::enumerate(state))
                 z.store(v, exchange, {z.idx(i), thread});
             });
    syncConsumers(y);
    SmallVector<Value> merged(state.begin(), state.end());
    Value scale[2][2];
    for (int64_t half = 0; half < 2; ++half) {
      Value mine = state[half],
            theirs = y.load(exchange, {y.idx(half), thread});
      Value max = y.maxf(mine, theirs);
      scale[half][0] = rescaleFactor(y, mine, max);
      scale[half][1] = rescaleFactor(y, theirs, max);
      merged[half] = max;
    }
    for (size_t i = 2; i < state.size(); ++i) {
      const int64_t half = TensorCoreAttentionWarp::rowOf(i);
      Value theirs = y.load(exchange, {y.idx(i), thread});
      merged[i] = y.addf(y.mulf(state[i], scale[half][0]),
                         y.mulf(theirs, scale[half][1]));
    }
    scf::YieldOp::create(y.b, y.loc, merged);
  }
  {
    OpBuilder::InsertionGuard guard(x.b);
    x.b.setInsertionPointToStart(join.elseBlock());
    scf::YieldOp::create(x.b, x.loc, state);
  }
  return join.getResults();
}

/// Whether the sm_90a kernel runs the tensor-core attention: h a multiple
/// of 64 (its tiles are 64 wide).
bool attentionOnWarpgroups(const GPUTiling &tiling, int64_t h) {
  return tiling.warpgroupMma && h % hopper::kTile == 0;
}

/// Blocks of kConsumers x 64 query rows; below `splitBelow` of them (too
/// few for the SMs), blocks of 64 rows whose consumers split the keys.
void emitWarpgroupAttention(Emitter &e, const AttentionArgs &a,
                            int64_t splitBelow) {
  using WA = WarpgroupAttention;
  WA::Maps maps{hopper::createTileMap(e, a.query, a.ok),
                hopper::createTileMap(e, a.key, a.ok),
                hopper::createTileMap(e, a.value, a.ok)};
  const int64_t wide = WA::kConsumers * hopper::kTile;
  Value wideBlocks = e.mul(e.ceilDiv(a.rowsPerBatch, e.idx(wide)), a.batch);
  Value rowsPerBlock =
      e.select(e.cmp(arith::CmpIPredicate::ult, wideBlocks, e.idx(splitBelow)),
               e.idx(hopper::kTile), e.idx(wide));
  launchTensorCoreAttention(
      e, a, hopper::kTile, rowsPerBlock, WA::threads(), {},
      [&](Emitter &g, const Kernel &ids, ValueRange,
          const AttentionBlock &blk) {
        Value split =
            g.cmp(arith::CmpIPredicate::eq, rowsPerBlock, g.idx(hopper::kTile));
        WA wa(g, a, ids, blk, maps, split);
        g.ifThen(
            g.cmp(arith::CmpIPredicate::ult, ids.warp, g.idx(4)),
            [&](Emitter &x) { wa.produce(x); },
            [&](Emitter &x) { wa.consume(x, x.sub(ids.warp, x.idx(4))); });
      },
      hopper::dynamicSharedBytes(WA::bytes(a.h)));
}

/// The keys and values [first, first + kKeyTile) of sequence b into shared
/// memory, zero beyond the sequence; coalesced over the block's threads.
void stageKeyValueTile(Emitter &x, const AttentionArgs &a, const Kernel &ids,
                       Value b, Value first, Value kTile, Value vTile) {
  const int64_t h = a.h;
  Type keyElement = cast<MemRefType>(a.key.getType()).getElementType();
  Type valueElement = cast<MemRefType>(a.value.getType()).getElementType();
  x.loop(x.idx(0), x.idx(kKeyTile * h / 128 + 1), [&](Emitter &y, Value it) {
    Value i = y.add(y.mul(it, y.idx(128)), ids.tid);
    y.ifThen(y.cmp(arith::CmpIPredicate::ult, i, y.idx(kKeyTile * h)),
             [&](Emitter &z) {
               Value j = z.div(i, z.idx(h));
               Value c = arith::RemUIOp::create(z.b, z.loc, i, z.idx(h));
               Value s = z.add(first, j);
               Value in = z.cmp(arith::CmpIPredicate::ult, s, a.keys);
               z.store(loadIf(z, in, a.key, {b, s, c}, zeroOf(z, keyElement)),
                       kTile, {j, c});
               z.store(
                   loadIf(z, in, a.value, {b, s, c}, zeroOf(z, valueElement)),
                   vTile, {j, c});
             });
  });
}

/// Normalise a warp's rows (state per row: maximum, sum, then perLane
/// output values); a row that saw no key writes zeros. Lane 0 writes the
/// rows' log-sum-exp (with_lse).
void writeAttentionRows(Emitter &g, const AttentionArgs &a, const Kernel &ids,
                        Value b, Value row0, ArrayRef<Value> state,
                        int64_t perLane) {
  const int64_t stride = 2 + perLane;
  for (int64_t r = 0; r < kRowsPerWarp; ++r) {
    Value row = g.add(row0, g.idx(r));
    g.ifThen(
        g.cmp(arith::CmpIPredicate::ult, row, a.rowsPerBatch), [&](Emitter &x) {
          Value sum = state[r * stride + 1];
          if (a.lse)
            x.ifThen(x.cmp(arith::CmpIPredicate::eq, ids.lane, x.idx(0)),
                     [&](Emitter &y) {
                       storeLogSumExp(y, a, b, row, state[r * stride], sum);
                     });
          Value seen = x.cmpf(arith::CmpFPredicate::UGT, sum, x.f32(0));
          Value inverse = x.divf(x.f32(1), sum);
          for (int64_t i = 0; i < perLane; ++i) {
            Value c = x.add(ids.lane, x.idx(i * kWarp));
            x.ifThen(x.cmp(arith::CmpIPredicate::ult, c, x.idx(a.h)),
                     [&](Emitter &y) {
                       Value o = y.select(
                           seen, y.mulf(state[r * stride + 2 + i], inverse),
                           y.f32(0));
                       y.store(fromF32(y, o, a.element), a.out, {b, row, c});
                     });
          }
        });
  }
}

/// One row against one key tile: returns its new (max, sum, output).
SmallVector<Value> attendTile(Emitter &x, const Kernel &ids, ValueRange state,
                              Value row, Value rowsPerBatch, Value k, Value b,
                              Value s, Value keyOk, Value query, Value kTile,
                              Value vTile, int64_t h, int64_t perLane,
                              float scale, bool causal) {
  Value rowOk = x.cmp(arith::CmpIPredicate::ult, row, rowsPerBatch);
  Value safeRow = x.select(rowOk, row, x.idx(0));
  // Lane j scores key j; the dimension order is rotated by the lane so
  // the 32 lanes read 32 different shared-memory banks.
  Value dot = x.loop(
      x.idx(0), x.idx(h), {x.f32(0)}, [&](Emitter &y, Value i, ValueRange acc) {
        Value c =
            arith::RemUIOp::create(y.b, y.loc, y.add(i, ids.lane), y.idx(h));
        Value q = toF32(y, y.load(query, {b, safeRow, c}));
        Value kv = toF32(y, y.load(kTile, {ids.lane, c}));
        return SmallVector<Value>{
            math::FmaOp::create(y.b, y.loc, q, kv, acc[0])};
      })[0];
  Value visible = x.andI(keyOk, rowOk);
  if (causal)
    visible =
        x.andI(visible, x.cmp(arith::CmpIPredicate::ule, s, x.div(safeRow, k)));
  Value score = x.select(visible, x.mulf(dot, x.f32(scale)), negInf(x));
  Value oldMax = state[0];
  Value newMax = x.maxf(oldMax, warpMax(x, score));
  // UNE: a NaN maximum (a NaN score) propagates instead of zeroing.
  Value any = x.cmpf(arith::CmpFPredicate::UNE, newMax, negInf(x));
  Value p =
      x.select(x.andI(visible, any), x.exp(x.subf(score, newMax)), x.f32(0));
  Value alpha = rescaleFactor(x, oldMax, newMax);
  Value sum = x.addf(x.mulf(state[1], alpha), warpSum(x, p));
  SmallVector<Value> out;
  for (int64_t i = 0; i < perLane; ++i)
    out.push_back(x.mulf(state[2 + i], alpha));
  out = x.loop(
      x.idx(0), x.idx(kKeyTile), out, [&](Emitter &y, Value j, ValueRange acc) {
        Value pj = shuffleIndex(y, p, y.toI32(j));
        SmallVector<Value> next;
        for (int64_t i = 0; i < perLane; ++i) {
          Value c = y.add(ids.lane, y.idx(i * kWarp));
          Value inH = y.cmp(arith::CmpIPredicate::ult, c, y.idx(h));
          Value v = toF32(y, y.load(vTile, {j, y.select(inH, c, y.idx(0))}));
          next.push_back(math::FmaOp::create(y.b, y.loc, pj, v, acc[i]));
        }
        return next;
      });
  SmallVector<Value> result = {x.select(any, newMax, oldMax), sum};
  result.append(out);
  return result;
}

/// Attention on the CUDA cores (see LowerMultiQueryAttention).
void emitCudaCoreAttention(Emitter &e, const AttentionArgs &a) {
  const int64_t h = a.h;
  const int64_t rowsPerBlock = kRowsPerWarp * kAttentionWarps;
  const int64_t perLane = (h + kWarp - 1) / kWarp;
  launchAttention(
      e, a.batch, a.rowsPerBatch, e.idx(rowsPerBlock), kAttentionWarps * kWarp,
      {sharedBuffer({kKeyTile, h},
                    cast<MemRefType>(a.key.getType()).getElementType()),
       sharedBuffer({kKeyTile, h},
                    cast<MemRefType>(a.value.getType()).getElementType())},
      a.ok, a.err,
      [&](Emitter &g, const Kernel &ids, ValueRange shared, Value b,
          Value blockRow) {
        Value kTile = shared[0], vTile = shared[1];
        // k = 0 leaves no rows; divide by at least 1.
        Value slots = atLeastOne(g, a.k);
        Value row0 = g.add(blockRow, g.mul(ids.warp, g.idx(kRowsPerWarp)));
        Value lastRow = g.min(g.add(blockRow, g.idx(rowsPerBlock - 1)),
                              g.sub(atLeastOne(g, a.rowsPerBatch), g.idx(1)));
        Value visibleKeys =
            a.causal ? g.min(g.add(g.div(lastRow, slots), g.idx(1)), a.keys)
                     : a.keys;
        // State per row: maximum, sum, then perLane output values.
        const int64_t stride = 2 + perLane;
        SmallVector<Value> init;
        for (int64_t r = 0; r < kRowsPerWarp; ++r) {
          init.append({negInf(g), g.f32(0)});
          init.append(perLane, g.f32(0));
        }
        SmallVector<Value> state = g.loop(
            g.idx(0), g.ceilDiv(visibleKeys, g.idx(kKeyTile)), init,
            [&](Emitter &x, Value tile, ValueRange carried) {
              Value first = x.mul(tile, x.idx(kKeyTile));
              stageKeyValueTile(x, a, ids, b, first, kTile, vTile);
              barrier(x);
              Value s = x.add(first, ids.lane);
              Value keyOk = x.cmp(arith::CmpIPredicate::ult, s, a.keys);
              if (a.mask)
                keyOk =
                    x.andI(keyOk, x.notI(loadIf(x, keyOk, a.mask, {b, s},
                                                arith::ConstantIntOp::create(
                                                    x.b, x.loc, 0, 1))));
              SmallVector<Value> next;
              for (int64_t r = 0; r < kRowsPerWarp; ++r) {
                ValueRange rowState = carried.slice(r * stride, stride);
                Value row = x.add(row0, x.idx(r));
                next.append(attendTile(x, ids, rowState, row, a.rowsPerBatch,
                                       slots, b, s, keyOk, a.query, kTile,
                                       vTile, h, perLane, a.scale, a.causal));
              }
              barrier(x);
              return next;
            });
        writeAttentionRows(g, a, ids, b, row0, state, perLane);
      });
}

/// f16/bf16 with h a multiple of 16 up to 128 runs on the tensor cores
/// (emitTensorCoreAttention); otherwise on the CUDA cores: grid (row tiles,
/// batch); a block's 4 warps take 8 query rows (token, slot) each. For each
/// tile of 32 keys (K and V staged in shared memory
/// once for all the block's rows, i.e. for all k slots of its tokens), lane
/// j scores key j against each row, the warp reduces the tile's maximum and
/// sum, and each lane accumulates its h/32 output dimensions with the
/// probabilities broadcast by shuffles. Causal blocks stop at their last
/// token's key; a row that sees no key writes zeros.
struct LowerMultiQueryAttention : OpRewritePattern<MultiQueryAttentionOp> {
  LowerMultiQueryAttention(MLIRContext *ctx, const GPUTiling &tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}
  const GPUTiling &tiling;

  LogicalResult matchAndRewrite(MultiQueryAttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!unsupported(op).empty())
      return rewriter.notifyMatchFailure(op, unsupported(op));
    auto queryType = cast<ShapedType>(op.getQuery().getType());
    auto keyType = cast<ShapedType>(op.getKey().getType());
    auto valueType = cast<ShapedType>(op.getValue().getType());
    const int64_t h = queryType.getDimSize(3);
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const bool causal = op.getCausal();
    Value batch = tb.dim(op.getQuery(), 0), length = tb.dim(op.getQuery(), 1);
    Value k = tb.dim(op.getQuery(), 2);
    Value keys = tb.dim(op.getKey(), 1);
    Value rowsPerBatch = e.mul(length, k);
    SmallVector<std::pair<Value, Value>> sizes = {
        {tb.dim(op.getKey(), 0), batch},
        {tb.dim(op.getValue(), 0), batch},
        {tb.dim(op.getValue(), 1), keys},
        {tb.dim(op.getKey(), 2), e.idx(h)},
        {tb.dim(op.getValue(), 2), e.idx(h)}};
    Value maskTensor = op.getKeyPaddingMask();
    if (maskTensor)
      sizes.append(
          {{tb.dim(maskTensor, 0), batch}, {tb.dim(maskTensor, 1), keys}});
    Value ok = tb.agree(sizes);
    Value query = tb.collapse(tb.buffer(op.getQuery()), {{0}, {1, 2}, {3}});
    Value key = tb.buffer(op.getKey());
    Value value = tb.buffer(op.getValue());
    Value mask = maskTensor ? tb.buffer(maskTensor) : Value();
    Type element = queryType.getElementType();
    Value result4 = deviceAlloc(e, element, {batch, length, k, e.idx(h)});
    Value out = tb.collapse(result4, {{0}, {1, 2}, {3}});
    Value lse3 = op.getWithLse()
                     ? deviceAlloc(e, rewriter.getF32Type(), {batch, length, k})
                     : Value();
    Value lse = lse3 ? tb.collapse(lse3, {{0}, {1, 2}}) : Value();
    const float scale = op.getScale() ? op.getScale()->convertToFloat()
                                      : 1.0f / std::sqrt(float(h));
    AttentionArgs args{err,   ok,     query,   key,          value, mask,
                       out,   batch,  keys,    rowsPerBatch, k,     h,
                       scale, causal, element, lse};
    const bool tensorCores = attentionOnTensorCores(
        element, keyType.getElementType(), valueType.getElementType(), h);
    if (tensorCores && attentionOnWarpgroups(tiling, h))
      emitWarpgroupAttention(e, args, tiling.attentionSplitBelow);
    else if (tensorCores)
      emitTensorCoreAttention(e, args, tiling.attentionKeys);
    else
      emitCudaCoreAttention(e, args);
    SmallVector<Value> results = {tb.result(result4, op.getResult().getType())};
    if (lse3)
      results.push_back(tb.result(lse3, op.getLse().getType()));
    rewriter.replaceOp(op, results);
    return success();
  }

  /// Why the kernel cannot run `op` ("" if it can): the head size must be
  /// static and a tile of keys and values must fit in shared memory.
  static std::string unsupported(MultiQueryAttentionOp op) {
    auto queryType = cast<ShapedType>(op.getQuery().getType());
    if (queryType.isDynamicDim(3))
      return "needs a static head size h for the GPU";
    const int64_t h = queryType.getDimSize(3);
    const int64_t bytes =
        kKeyTile * h *
        (cast<ShapedType>(op.getKey().getType()).getElementTypeBitWidth() +
         cast<ShapedType>(op.getValue().getType()).getElementTypeBitWidth()) /
        8;
    if (bytes <= kMaxSharedBytes)
      return "";
    return "head size " + std::to_string(h) + " needs " +
           std::to_string(bytes) +
           " bytes of shared memory per key tile on the GPU (at most " +
           std::to_string(kMaxSharedBytes) + ")";
  }
};

//===----------------------------------------------------------------------===//
// Decoding: moa.cache_write and split-KV moa.cached_attention
//===----------------------------------------------------------------------===//

/// Cached keys per block of the split-KV kernel (4 tiles of kKeyTile): a
/// sequence of 2048 cached tokens is 16 blocks per new token.
constexpr int64_t kSplitKeys = 4 * kKeyTile;
/// Query rows (the k slots of one token) a split-KV block can hold.
constexpr int64_t kDecodeRows = kRowsPerWarp * kAttentionWarps;

/// offsets[b] as an index, and whether it places `length` new tokens
/// inside `slots` cache rows.
std::pair<Value, Value> cacheOffset(Emitter &x, Value offsets, Value b,
                                    Value length, Value slots) {
  Value offset = arith::IndexCastOp::create(x.b, x.loc, x.b.getIndexType(),
                                            x.load(offsets, {b}));
  Value fits =
      x.andI(arith::CmpIOp::create(x.b, x.loc, arith::CmpIPredicate::sge,
                                   offset, x.idx(0)),
             arith::CmpIOp::create(x.b, x.loc, arith::CmpIPredicate::sle,
                                   x.add(offset, length), slots));
  return {offset, fits};
}

/// cacheOffset, recording CacheOffsetOutOfRange where it does not fit.
std::pair<Value, Value> checkedOffset(Emitter &x, Value offsets, Value b,
                                      Value length, Value slots, Value err) {
  auto [offset, fits] = cacheOffset(x, offsets, b, length, slots);
  x.ifThen(x.notI(fits), [&](Emitter &y) {
    fail(y, err, ::moa::runtime::FailureCode::CacheOffsetOutOfRange);
  });
  return {offset, fits};
}

/// moa.cache_write (buffer form: the cache written where it is): one block
/// per new token, its threads over the h values of the row.
struct LowerCacheWrite : OpRewritePattern<CacheWriteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CacheWriteOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getResult())
      return rewriter.notifyMatchFailure(op, "lowered in buffer form");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value update = op.getUpdate(), cache = op.getCache();
    Value offsets = op.getOffsets();
    Value batch = tb.dim(cache, 0), slots = tb.dim(cache, 1);
    Value h = tb.dim(cache, 2), length = tb.dim(update, 1);
    Value ok = tb.agree({{tb.dim(update, 0), batch},
                         {tb.dim(offsets, 0), batch},
                         {tb.dim(update, 2), h}});
    constexpr int64_t threads = 4 * kWarp;
    launch(e, "moa_cache_write", atLeastOne(e, e.mul(batch, length)), e.idx(1),
           threads, {}, [&](Emitter &kernel, const Kernel &ids, ValueRange) {
             whenShapesAgree(kernel, ids, ok, err, [&](Emitter &g) {
               Value tokens = g.mul(batch, length);
               g.ifThen(g.cmp(arith::CmpIPredicate::ult, ids.bidX, tokens),
                        [&](Emitter &x) {
                          Value b = x.div(ids.bidX, length);
                          Value t = arith::RemUIOp::create(x.b, x.loc, ids.bidX,
                                                           length);
                          auto [offset, fits] =
                              checkedOffset(x, offsets, b, length, slots, err);
                          Value row = x.add(offset, t);
                          x.ifThen(fits, [&](Emitter &y) {
                            y.stridedLoop(ids.tid, h, y.idx(threads),
                                          [&](Emitter &z, Value c) {
                                            z.store(z.load(update, {b, t, c}),
                                                    cache, {b, row, c});
                                          });
                          });
                        });
             });
           });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Split-KV decoding (FlashDecoding): a block per (new token, kSplitKeys
/// cached keys); its warps hold the token's k query slots as rows (the
/// slots share each key tile staged in shared memory) and leave per row the
/// block's maximum score, the sum of exp(score - maximum) and the
/// exp-weighted values; a second kernel, a warp per row, rescales the
/// blocks' partials to the row's overall maximum. Blocks past a token's
/// position do nothing, so one sequence of many cached tokens fills the
/// machine however small the batch.
struct LowerCachedAttention : OpRewritePattern<CachedAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CachedAttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (std::string why = unsupported(op); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    auto queryType = cast<ShapedType>(op.getQuery().getType());
    const int64_t h = queryType.getDimSize(3);
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getQuery(), 0), length = tb.dim(op.getQuery(), 1);
    Value k = tb.dim(op.getQuery(), 2), slots = tb.dim(op.getKeyCache(), 1);
    Value ok = tb.agree({{tb.dim(op.getKeyCache(), 0), batch},
                         {tb.dim(op.getValueCache(), 0), batch},
                         {tb.dim(op.getValueCache(), 1), slots},
                         {tb.dim(op.getKeyCache(), 2), e.idx(h)},
                         {tb.dim(op.getValueCache(), 2), e.idx(h)},
                         {tb.dim(op.getOffsets(), 0), batch}});
    Value rows = e.mul(length, k);
    Type element = queryType.getElementType();
    Value result4 = deviceAlloc(e, element, {batch, length, k, e.idx(h)});
    AttentionArgs a{err,
                    ok,
                    tb.collapse(op.getQuery(), {{0}, {1, 2}, {3}}),
                    op.getKeyCache(),
                    op.getValueCache(),
                    Value(),
                    tb.collapse(result4, {{0}, {1, 2}, {3}}),
                    batch,
                    slots,
                    rows,
                    k,
                    h,
                    op.getScale() ? op.getScale()->convertToFloat()
                                  : 1.0f / std::sqrt(float(h)),
                    /*causal=*/false,
                    element};
    Value splits = atLeastOne(e, e.ceilDiv(slots, e.idx(kSplitKeys)));
    Type f32 = e.b.getF32Type();
    Partials partials{deviceAlloc(e, f32, {batch, rows, splits}),
                      deviceAlloc(e, f32, {batch, rows, splits}),
                      deviceAlloc(e, f32, {batch, rows, splits, e.idx(h)})};
    emitSplits(e, a, op.getOffsets(), length, splits, partials);
    emitCombine(e, a, op.getOffsets(), length, splits, partials);
    rewriter.replaceOp(op, tb.result(result4, op.getType()));
    return success();
  }

  /// Per (sequence, row, split): maximum, sum, and the h weighted values.
  struct Partials {
    Value max, sum, out;
  };

  static void emitSplits(Emitter &e, const AttentionArgs &a, Value offsets,
                         Value length, Value splits, const Partials &part) {
    const int64_t h = a.h, perLane = (h + kWarp - 1) / kWarp;
    Type keyElement = cast<MemRefType>(a.key.getType()).getElementType();
    Type valueElement = cast<MemRefType>(a.value.getType()).getElementType();
    launch(e, "moa_decode_split", atLeastOne(e, e.mul(a.batch, length)), splits,
           kAttentionWarps * kWarp,
           {sharedBuffer({kKeyTile, h}, keyElement),
            sharedBuffer({kKeyTile, h}, valueElement)},
           [&](Emitter &kernel, const Kernel &ids, ValueRange shared) {
             whenShapesAgree(kernel, ids, a.ok, a.err, [&](Emitter &g) {
               Value inBatch = g.cmp(arith::CmpIPredicate::ult, ids.bidX,
                                     g.mul(a.batch, length));
               g.ifThen(inBatch, [&](Emitter &x) {
                 Value b = x.div(ids.bidX, length);
                 Value t = arith::RemUIOp::create(x.b, x.loc, ids.bidX, length);
                 auto [offset, fits] =
                     checkedOffset(x, offsets, b, length, a.keys, a.err);
                 // Token t sees the cached keys up to its position.
                 Value first = x.mul(ids.bidY, x.idx(kSplitKeys));
                 Value end = x.min(x.add(first, x.idx(kSplitKeys)),
                                   x.add(x.add(offset, t), x.idx(1)));
                 Value work =
                     x.andI(fits, x.cmp(arith::CmpIPredicate::ult, first, end));
                 x.ifThen(work, [&](Emitter &y) {
                   splitBlock(y, a, ids, shared, b, t, first, end, part,
                              perLane);
                 });
               });
             });
           });
  }

  /// One block's keys [first, end) for the rows of token t.
  static void splitBlock(Emitter &g, const AttentionArgs &a, const Kernel &ids,
                         ValueRange shared, Value b, Value t, Value first,
                         Value end, const Partials &part, int64_t perLane) {
    const int64_t stride = 2 + perLane;
    Value row0 = g.add(g.mul(t, a.k), g.mul(ids.warp, g.idx(kRowsPerWarp)));
    Value rowsEnd = g.mul(g.add(t, g.idx(1)), a.k);
    SmallVector<Value> init;
    for (int64_t r = 0; r < kRowsPerWarp; ++r) {
      init.append({negInf(g), g.f32(0)});
      init.append(perLane, g.f32(0));
    }
    SmallVector<Value> state = g.loop(
        g.idx(0), g.ceilDiv(g.sub(end, first), g.idx(kKeyTile)), init,
        [&](Emitter &x, Value tile, ValueRange carried) {
          Value tileFirst = x.add(first, x.mul(tile, x.idx(kKeyTile)));
          stageKeyValueTile(x, a, ids, b, tileFirst, shared[0], shared[1]);
          barrier(x);
          Value s = x.add(tileFirst, ids.lane);
          Value keyOk = x.cmp(arith::CmpIPredicate::ult, s, end);
          SmallVector<Value> next;
          for (int64_t r = 0; r < kRowsPerWarp; ++r)
            next.append(attendTile(x, ids, carried.slice(r * stride, stride),
                                   x.add(row0, x.idx(r)), rowsEnd,
                                   atLeastOne(x, a.k), b, s, keyOk, a.query,
                                   shared[0], shared[1], a.h, perLane, a.scale,
                                   /*causal=*/false));
          barrier(x);
          return next;
        });
    Value split = ids.bidY;
    for (int64_t r = 0; r < kRowsPerWarp; ++r) {
      Value row = g.add(row0, g.idx(r));
      g.ifThen(g.cmp(arith::CmpIPredicate::ult, row, rowsEnd), [&](Emitter &x) {
        x.ifThen(isZero(x, ids.lane), [&](Emitter &y) {
          y.store(state[r * stride], part.max, {b, row, split});
          y.store(state[r * stride + 1], part.sum, {b, row, split});
        });
        for (int64_t i = 0; i < perLane; ++i) {
          Value c = x.add(ids.lane, x.idx(i * kWarp));
          x.ifThen(x.cmp(arith::CmpIPredicate::ult, c, x.idx(a.h)),
                   [&](Emitter &y) {
                     y.store(state[r * stride + 2 + i], part.out,
                             {b, row, split, c});
                   });
        }
      });
    }
  }

  /// A warp per query row: the splits that saw keys, rescaled to their
  /// overall maximum, normalised, written in the query's element type.
  static void emitCombine(Emitter &e, const AttentionArgs &a, Value offsets,
                          Value length, Value splits, const Partials &part) {
    Value rows = e.mul(a.batch, a.rowsPerBatch);
    launch(e, "moa_decode_combine", atLeastOne(e, rows), e.idx(1), kWarp, {},
           [&](Emitter &kernel, const Kernel &ids, ValueRange) {
             whenShapesAgree(kernel, ids, a.ok, a.err, [&](Emitter &g) {
               g.ifThen(g.cmp(arith::CmpIPredicate::ult, ids.bidX, rows),
                        [&](Emitter &x) {
                          combineRow(x, a, ids, offsets, length, splits, part);
                        });
             });
           });
  }

  static void combineRow(Emitter &x, const AttentionArgs &a, const Kernel &ids,
                         Value offsets, Value length, Value splits,
                         const Partials &part) {
    Value b = x.div(ids.bidX, a.rowsPerBatch);
    Value row = arith::RemUIOp::create(x.b, x.loc, ids.bidX, a.rowsPerBatch);
    Value t = x.div(row, atLeastOne(x, a.k));
    // Not a structured binding: the lambda below captures it (C++17).
    Value offset, fits;
    std::tie(offset, fits) = cacheOffset(x, offsets, b, length, a.keys);
    x.ifThen(fits, [&](Emitter &y) {
      // The splits that hold keys 0 .. offset + t.
      Value used = y.min(splits, y.ceilDiv(y.add(y.add(offset, t), y.idx(1)),
                                           y.idx(kSplitKeys)));
      Value top = y.loop(y.idx(0), used, {negInf(y)},
                         [&](Emitter &z, Value sp, ValueRange m) {
                           return SmallVector<Value>{
                               z.maxf(m[0], z.load(part.max, {b, row, sp}))};
                         })[0];
      Value total = y.loop(
          y.idx(0), used, {y.f32(0)}, [&](Emitter &z, Value sp, ValueRange l) {
            Value w = z.exp(z.subf(z.load(part.max, {b, row, sp}), top));
            return SmallVector<Value>{
                z.addf(l[0], z.mulf(w, z.load(part.sum, {b, row, sp})))};
          })[0];
      Value inverse = y.divf(y.f32(1), total);
      y.stridedLoop(
          ids.lane, y.idx(a.h), y.idx(kWarp), [&](Emitter &z, Value c) {
            Value o = z.loop(z.idx(0), used, {z.f32(0)},
                             [&](Emitter &w, Value sp, ValueRange acc) {
                               Value scale = w.exp(
                                   w.subf(w.load(part.max, {b, row, sp}), top));
                               return SmallVector<Value>{math::FmaOp::create(
                                   w.b, w.loc, scale,
                                   w.load(part.out, {b, row, sp, c}), acc[0])};
                             })[0];
            z.store(fromF32(z, z.mulf(o, inverse), a.element), a.out,
                    {b, row, c});
          });
    });
  }

  /// Why the kernels cannot run `op` ("" if they can): a static head size
  /// whose key tiles fit in shared memory, and at most kDecodeRows slots.
  static std::string unsupported(CachedAttentionOp op) {
    auto queryType = cast<ShapedType>(op.getQuery().getType());
    if (queryType.isDynamicDim(3) || queryType.isDynamicDim(2))
      return "needs a static number of query slots k and head size h for "
             "the GPU";
    if (queryType.getDimSize(2) > kDecodeRows)
      return "k = " + std::to_string(queryType.getDimSize(2)) +
             " query slots per token; the GPU decoding kernel takes at most " +
             std::to_string(kDecodeRows);
    const int64_t bytes =
        kKeyTile * queryType.getDimSize(3) * 2 *
        cast<ShapedType>(op.getKeyCache().getType()).getElementTypeBitWidth() /
        8;
    if (bytes <= kMaxSharedBytes)
      return "";
    return "head size " + std::to_string(queryType.getDimSize(3)) + " needs " +
           std::to_string(bytes) +
           " bytes of shared memory per key tile on the GPU (at most " +
           std::to_string(kMaxSharedBytes) + ")";
  }
};

} // namespace

void gpu_kernels::populateGPUAttentionPatterns(RewritePatternSet &patterns,
                                               const GPUTiling &tiling) {
  patterns.add<LowerMultiQueryAttention>(patterns.getContext(), tiling);
  patterns.add<LowerCacheWrite, LowerCachedAttention>(patterns.getContext());
}

std::string gpu_kernels::gpuAttentionUnsupported(MultiQueryAttentionOp op) {
  return LowerMultiQueryAttention::unsupported(op);
}

std::string gpu_kernels::gpuDecodingUnsupported(CachedAttentionOp op) {
  return LowerCachedAttention::unsupported(op);
}
