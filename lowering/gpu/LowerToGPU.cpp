//===- LowerToGPU.cpp - moa primitives to gpu dialect kernels -------------===//
//
// Each moa primitive of a decomposed layer becomes one or a few gpu.launch
// kernels on device buffers (gpu.alloc); moa-gpu-host-boundary later moves
// the entry's arguments and results between host and device. Nothing in a
// layer copies to the host: routing, dispatch and the per-tile expert map
// stay on the device, and failures (bad indices, shapes that disagree) are
// recorded in a device error word that the entry point checks once, when it
// returns.
//
// Kernels:
//   router    a warp per 4 tokens: the router projection (f32), softmax
//             statistics and top-k by warp shuffles (ties to the lower index)
//   dispatch  histogram (atomics), exclusive scan, and a stable scatter of the
//             (token, slot) pairs with one block per expert
//   GEMMs     64x64 tiles staged in shared memory; f16/bf16 operands on the
//             tensor cores (mma.sync m16n8k16, f32 accumulation), f32 on the
//             CUDA cores with the same fragment layout; the grouped matmuls
//             find their expert from the dispatch offsets (the per-tile expert
//             map) and fuse the gather, and the scatter or the gate-weighted
//             combine (f32 atomics), into the epilogue
//   attention in GPUAttention.cpp
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/Passes.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/RegionUtils.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

#include <cmath>
#include <tuple>

namespace mlir::moa {
#define GEN_PASS_DEF_MOALOWERTOGPU
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;
using ::moa::runtime::FailureCode;

namespace {

/// The router runs 4 warps per block.
constexpr int64_t kRouterWarps = 4;
/// Tokens a router warp projects together (each weight value loaded once).
constexpr int64_t kRouterTokens = 4;
/// Experts per lane are tracked in an i64 bit mask.
constexpr int64_t kMaxRouterExperts = 64 * kWarp;
/// Dispatch: threads per block and pairs per thread of the scatter.
constexpr int64_t kDispatchThreads = 256, kDispatchItems = 16;

//===----------------------------------------------------------------------===//
// The tiled GEMM kernel
//===----------------------------------------------------------------------===//

/// One block computes a tile of rows x weight[expert] (GPUTiling: 64x64 by
/// default), one 32x32 square per warp, staging gemmDepth of k at a time in
/// shared memory. Each thread holds the 2x4 m16n8 accumulator fragments of
/// mma.sync (32 f32). f16/bf16 operands go through the tensor cores: cp.async
/// fills A as [row][k] and the weight as [k][n] (16 bytes per copy, element
/// by element when K or N is not a multiple of 8), ldmatrix reads the
/// fragments, and the tiles have two slots: the copies of the next stage
/// are in flight while the tensor cores work on this one. f32 (or mixed)
/// operands are widened into f32 tiles, A as [row][k] with rows padded by one
/// word, the weight as [k][n], and go through FMAs on the same fragment layout,
/// so the epilogue is one piece of code; a warp stages 32 consecutive elements
/// of a row (coalesced), and neither its staging stores nor its fragment reads
/// (8 rows of A at one k, 8 columns of the weight at one k) meet bank conflicts
/// (the emulator's profile: 1.00 of the fewest wavefronts, from 5.5). Several
/// weights of one shape (K and V) share a launch: grid y covers the column
/// tiles of each in turn.
struct TiledGemm {
  const GPUTiling &tiling;
  /// The kernel's name.
  StringRef name;
  /// [rows_in, K] input and [E, K, N] weight buffers.
  Value input;
  SmallVector<Value, 2> weights;
  Value kDim, nDim;
  /// Number of row tiles launched.
  Value rowTiles;
  /// Per block: {valid, expert, first row, rows} of its tile.
  std::function<std::array<Value, 4>(Emitter &, const Kernel &)> tileOf;
  /// The input row holding tile row `row`.
  std::function<Value(Emitter &, Value)> sourceRow;
  /// Writes one accumulated f32 at (row, col) of the product with
  /// weights[which].
  std::function<void(Emitter &, Value which, Value row, Value col, Value acc)>
      store;
  /// sm_90a: store from the accumulator's registers rather than through
  /// shared memory a row per warp, which coalesces plain stores but costs
  /// a 64 x 64 f32 round trip per tile; for atomic adds, whose partial
  /// sectors the L2 merges.
  bool epilogueFromRegisters = false;

  void emit(Emitter &e, Value ok, Value err) const {
    Type inputType = cast<MemRefType>(input.getType()).getElementType();
    Type weightType = cast<MemRefType>(weights[0].getType()).getElementType();
    const bool tensorCores =
        inputType == weightType && (inputType.isF16() || inputType.isBF16());
    const int64_t rows = tiling.gemmRows, cols = tiling.gemmCols,
                  depth = tiling.gemmDepth;
    Type f32 = e.b.getF32Type();
    Value colTiles = atLeastOne(e, e.ceilDiv(nDim, e.idx(cols)));
    Value gridX = atLeastOne(e, rowTiles),
          gridY = e.mul(colTiles, e.idx(weights.size()));
    if (usesWarpgroupMma(tensorCores)) {
      SmallVector<Value> maps;
      for (Value weight : weights)
        maps.push_back(hopper::createTileMap(e, weight, ok));
      Value hopperColTiles = atLeastOne(e, e.ceilDiv(nDim, e.idx(kHopperCols)));
      launch(
          e, name, gridX, e.mul(hopperColTiles, e.idx(weights.size())),
          tiling.gemmThreads(), {},
          [&](Emitter &kernel, const Kernel &ids, ValueRange) {
            whenShapesAgree(kernel, ids, ok, err, [&](Emitter &g) {
              hopperBody(g, ids, hopperColTiles, maps);
            });
          },
          hopper::dynamicSharedBytes(kHopperRegionBytes));
      return;
    }
    SmallVector<MemRefType> tiles =
        tensorCores
            ? SmallVector<MemRefType>{ldmatrixTile(2 * rows, depth, inputType),
                                      ldmatrixTile(2 * depth, cols, inputType)}
            : SmallVector<MemRefType>{sharedBuffer({rows, depth + 1}, f32),
                                      sharedBuffer({depth, cols}, f32)};
    launch(e, name, gridX, gridY, tiling.gemmThreads(), tiles,
           [&](Emitter &kernel, const Kernel &ids, ValueRange shared) {
             whenShapesAgree(kernel, ids, ok, err, [&](Emitter &g) {
               body(g, ids, colTiles, shared[0], shared[1], tensorCores);
             });
           });
  }

private:
  /// 8 consecutive elements a thread stages per stage: A's row `row`, k
  /// from `col`, or the weight's k row `row`, columns from `col`.
  struct Chunk {
    Value row, col;
    /// A: the input row and whether the tile has that row.
    Value source, rowOk;
  };

  /// What a thread of the block knows.
  struct Thread {
    const Kernel &ids;
    Value expert, weight, which, first, rows, n0, aTile, bTile;
    Value warpRow, warpCol, group, quad;
    /// Whether K and N are multiples of 8: rows of 16-byte copies.
    Value kAligned, nAligned;
    SmallVector<Chunk> aChunks, bChunks;
  };

  /// The chunks of a rows x cols tile (rows a multiple of 8, cols of 8)
  /// thread `tid` stages; those past the tile have row >= rows and must be
  /// skipped. Consecutive threads take one chunk of 8 consecutive rows, then
  /// the next chunk of those rows: the 8 lanes of a 16-byte store's phase
  /// write 8 rows at one column, which the tiles' padding (rows 16 bytes
  /// past a multiple of 128) or swizzle puts in 8 distinct groups of banks,
  /// whatever the row's length (8 lanes along a row of 64 bytes would meet
  /// the next row's banks); a warp still reads whole 32-byte sectors.
  SmallVector<Chunk> chunksOf(Emitter &kernel, Value tid, int64_t rows,
                              int64_t cols) const {
    const int64_t perRow = cols / 8, threads = tiling.gemmThreads();
    SmallVector<Chunk> chunks;
    for (int64_t it = 0; it * threads < rows * perRow; ++it) {
      Value c = kernel.add(tid, kernel.idx(it * threads));
      Value group = kernel.div(c, kernel.idx(8 * perRow));
      Value within = arith::RemUIOp::create(kernel.b, kernel.loc, c,
                                            kernel.idx(8 * perRow));
      chunks.push_back(
          {kernel.add(kernel.mul(group, kernel.idx(8)),
                      arith::RemUIOp::create(kernel.b, kernel.loc, within,
                                             kernel.idx(8))),
           kernel.mul(kernel.div(within, kernel.idx(8)), kernel.idx(8)),
           Value(), Value()});
    }
    return chunks;
  }

  /// Runs body(chunk) for the thread's chunks inside a tile of `rows`.
  static void forChunks(Emitter &x, ArrayRef<Chunk> chunks, int64_t rows,
                        int64_t threads, int64_t perRow,
                        function_ref<void(Emitter &, const Chunk &)> body) {
    for (auto [it, chunk] : llvm::enumerate(chunks)) {
      if (int64_t(it + 1) * threads <= rows * perRow) {
        body(x, chunk);
        continue;
      }
      x.ifThen(x.cmp(arith::CmpIPredicate::ult, chunk.row, x.idx(rows)),
               [&](Emitter &y) { body(y, chunk); });
    }
  }

  /// How many of 8 elements from `at` lie below `end`, and `at` clamped to
  /// 0 when none do (an address cp.async may be given).
  static std::pair<Value, Value> within(Emitter &x, Value at, Value end) {
    Value in = x.cmp(arith::CmpIPredicate::ult, at, end);
    return {x.select(in, x.min(x.idx(8), x.sub(end, x.select(in, at, end))),
                     x.idx(0)),
            x.select(in, at, x.idx(0))};
  }

  /// The tensor-core path's stage k0 into tile slot `slot` (0 or 1):
  /// A[source, k0 + col..] and weight[expert, k0 + row, n0 + col..], zero
  /// outside the matrices, by cp.async copies of 8 16-bit elements per
  /// chunk, left in flight (the caller commits and waits).
  void stageAsync(Emitter &x, const Thread &t, Value k0, Value slot) const {
    const int64_t threads = tiling.gemmThreads(), depth = tiling.gemmDepth,
                  rows = tiling.gemmRows, cols = tiling.gemmCols;
    Value aFirst, bFirst;
    std::tie(aFirst, bFirst) = slotRows(x, slot);
    forChunks(x, t.aChunks, rows, threads, depth / 8,
              [&](Emitter &y, const Chunk &c) {
                auto [count, kk] = within(y, y.add(k0, c.col), kDim);
                count = y.select(c.rowOk, count, y.idx(0));
                copy8(y, t.aTile, {y.add(aFirst, c.row), c.col}, input,
                      {c.source, kk}, count, t.kAligned);
              });
    forChunks(x, t.bChunks, depth, threads, cols / 8,
              [&](Emitter &y, const Chunk &c) {
                auto [kCount, kk] = within(y, y.add(k0, c.row), kDim);
                auto [count, n] = within(y, y.add(t.n0, c.col), nDim);
                count = y.select(isZero(y, kCount), y.idx(0), count);
                copy8(y, t.bTile, {y.add(bFirst, c.row), c.col}, t.weight,
                      {t.expert, kk, n}, count, t.nAligned);
              });
  }

  /// The first rows of tile slot `slot` in A's tile and in the weight's: the
  /// slots lie one after the other.
  std::pair<Value, Value> slotRows(Emitter &x, Value slot) const {
    return {x.mul(slot, x.idx(tiling.gemmRows)),
            x.mul(slot, x.idx(tiling.gemmDepth))};
  }

  /// Stage `step` into slot `slot`: its copies issued, not committed.
  using StageFn = function_ref<void(Emitter &, Value step, Value slot)>;
  /// The work of a stage on slot `slot`, once its copies are waited for.
  using ComputeFn = function_ref<SmallVector<Value>(
      Emitter &, Value step, Value slot, ValueRange carried)>;

  /// The tensor-core main loop, two stages deep: stage s + 1's copies go
  /// out into the other slot before stage s's are waited for, so global
  /// latency overlaps the tensor cores' work on the stage before; `compute`
  /// ends with a barrier, so that no warp still reads a slot being refilled.
  /// The loop's location is named "main loop" (the emulator's profile names
  /// access sites by it).
  static SmallVector<Value> twoStageLoop(Emitter &kernel, Value steps,
                                         ValueRange init, StageFn stage,
                                         ComputeFn compute) {
    stage(kernel, kernel.idx(0), kernel.idx(0));
    asyncCommitAndWait(kernel, /*pending=*/1); // waits for nothing yet
    Emitter named(kernel.b, NameLoc::get(kernel.b.getStringAttr("main loop"),
                                         kernel.loc));
    return named.loop(named.idx(0), steps, init,
                      [&](Emitter &x, Value step, ValueRange carried) {
                        Value slot =
                            arith::RemUIOp::create(x.b, x.loc, step, x.idx(2));
                        Value next = x.add(step, x.idx(1));
                        x.ifThen(
                            x.cmp(arith::CmpIPredicate::ult, next, steps),
                            [&](Emitter &y) {
                              stage(y, next, y.sub(y.idx(1), slot));
                              asyncCommitAndWait(y, /*pending=*/1);
                            },
                            [&](Emitter &y) { asyncWaitAll(y); });
                        return compute(x, step, slot, carried);
                      });
  }

  /// The mma.sync path's main loop.
  SmallVector<Value> pipelinedLoop(Emitter &kernel, const Thread &t,
                                   Value steps) const {
    Value depth = kernel.idx(tiling.gemmDepth);
    SmallVector<Value> zeros(32, kernel.f32(0));
    return twoStageLoop(
        kernel, steps, zeros,
        [&](Emitter &x, Value step, Value slot) {
          stageAsync(x, t, x.mul(step, depth), slot);
        },
        [&](Emitter &x, Value, Value slot, ValueRange carried) {
          barrier(x);
          SmallVector<Value> out = mmaStage(x, t, carried, slot);
          barrier(x);
          return out;
        });
  }

  /// The FMA path's stage: element e = i * threads + tid of each tile, so
  /// that a warp's lanes take consecutive elements of a row, in a loop over
  /// i (the places of 16 elements per operand kept over the k loop, or the
  /// loop unrolled, take the registers the accumulators need).
  void stageElements(Emitter &x, const Thread &t, Value k0) const {
    const int64_t depth = tiling.gemmDepth, cols = tiling.gemmCols;
    forElements(
        x, t.ids.tid, tiling.gemmRows, depth,
        [&](Emitter &y, Value row, Value col) {
          Value rowOk = y.cmp(arith::CmpIPredicate::ult, row, t.rows);
          Value source =
              sourceRow(y, y.add(t.first, y.select(rowOk, row, y.idx(0))));
          Value kk = y.add(k0, col);
          stageF32(y, t.aTile, {row, col}, input, {source, kk},
                   y.andI(rowOk, y.cmp(arith::CmpIPredicate::ult, kk, kDim)));
        });
    forElements(x, t.ids.tid, depth, cols,
                [&](Emitter &y, Value row, Value col) {
                  Value kk = y.add(k0, row), n = y.add(t.n0, col);
                  stageF32(y, t.bTile, {row, col}, t.weight, {t.expert, kk, n},
                           y.andI(y.cmp(arith::CmpIPredicate::ult, kk, kDim),
                                  y.cmp(arith::CmpIPredicate::ult, n, nDim)));
                });
  }

  /// body(row, col) for the elements of a rows x cols tile thread `tid`
  /// takes: tid, tid + threads, ...
  void forElements(Emitter &x, Value tid, int64_t rows, int64_t cols,
                   function_ref<void(Emitter &, Value, Value)> body) const {
    const int64_t threads = tiling.gemmThreads();
    x.loop(x.idx(0), x.idx(llvm::divideCeil(rows * cols, threads)),
           [&](Emitter &y, Value i) {
             Value e = y.add(tid, y.mul(i, y.idx(threads)));
             Value row = y.div(e, y.idx(cols));
             Value col = arith::RemUIOp::create(y.b, y.loc, e, y.idx(cols));
             if ((rows * cols) % threads == 0)
               return body(y, row, col);
             y.ifThen(y.cmp(arith::CmpIPredicate::ult, row, y.idx(rows)),
                      [&](Emitter &z) { body(z, row, col); });
           });
  }

  /// FMA path: tile[at] = src[from] widened to f32, or 0 unless `inside`.
  static void stageF32(Emitter &x, Value tile, ValueRange at, Value src,
                       ValueRange from, Value inside) {
    Type element = cast<MemRefType>(src.getType()).getElementType();
    x.store(toF32(x, loadIf(x, inside, src, from, zeroOf(x, element))), tile,
            at);
  }

  /// fn(row, col, i) for the thread's accumulator i of the mma.sync
  /// fragment layout, at (row, col) of the block's tile: element c of m16n8
  /// tile (mi, ni) of the warp's square is at row g + 8*(c/2), column
  /// 2*quad + c%2 of that tile.
  static void forFragments(Emitter &x, const Thread &t,
                           function_ref<void(Value, Value, int64_t)> fn) {
    for (int64_t mi = 0; mi < 2; ++mi)
      for (int64_t ni = 0; ni < 4; ++ni)
        for (int64_t c = 0; c < 4; ++c)
          fn(x.add(t.warpRow, x.add(t.group, x.idx(mi * 16 + 8 * (c / 2)))),
             x.add(t.warpCol,
                   x.add(x.mul(t.quad, x.idx(2)), x.idx(ni * 8 + c % 2))),
             (mi * 4 + ni) * 4 + c);
  }

  /// Epilogue: each accumulator through `store`, inside the matrices.
  void storeTile(Emitter &kernel, const Thread &t, ArrayRef<Value> acc,
                 Value rows) const {
    forFragments(kernel, t, [&](Value row, Value col, int64_t i) {
      storeElement(kernel, t, row, col, acc[i], rows);
    });
  }

  /// Element (row, col) of the block's tile through `store`, if inside the
  /// matrices.
  void storeElement(Emitter &x, const Thread &t, Value row, Value tileCol,
                    Value acc, Value rows) const {
    Value col = x.add(t.n0, tileCol);
    Value inside = x.andI(x.cmp(arith::CmpIPredicate::ult, row, rows),
                          x.cmp(arith::CmpIPredicate::ult, col, nDim));
    x.ifThen(inside, [&](Emitter &y) {
      store(y, t.which, y.add(t.first, row), col, acc);
    });
  }

  /// What thread `ids` of the block for tile (first, rows) of `expert`
  /// knows; with `depth`, the chunks of A of stages that deep it stages by
  /// cp.async.
  Thread threadOf(Emitter &kernel, const Kernel &ids, Value colTiles,
                  int64_t cols, Value expert, Value first, Value rows,
                  std::optional<int64_t> depth) const {
    Thread t{ids};
    t.expert = expert;
    t.first = first;
    t.rows = rows;
    t.which = kernel.div(ids.bidY, colTiles);
    t.weight = weights[0];
    for (size_t w = 1; w < weights.size(); ++w)
      t.weight = kernel.select(
          kernel.cmp(arith::CmpIPredicate::eq, t.which, kernel.idx(w)),
          weights[w], t.weight);
    t.n0 = kernel.mul(
        arith::RemUIOp::create(kernel.b, kernel.loc, ids.bidY, colTiles),
        kernel.idx(cols));
    Value warpsAcross = kernel.idx(tiling.gemmCols / GPUTiling::kWarpTile);
    t.warpRow = kernel.mul(kernel.div(ids.warp, warpsAcross), kernel.idx(32));
    t.warpCol = kernel.mul(
        arith::RemUIOp::create(kernel.b, kernel.loc, ids.warp, warpsAcross),
        kernel.idx(32));
    t.group = kernel.div(ids.lane, kernel.idx(4));
    t.quad =
        arith::RemUIOp::create(kernel.b, kernel.loc, ids.lane, kernel.idx(4));
    // A's chunks keep their rows over the stages: find the source rows
    // once (tensor-core paths; the FMA path finds its elements per stage).
    if (depth) {
      t.aChunks = chunksOf(kernel, ids.tid, tiling.gemmRows, *depth);
      for (Chunk &c : t.aChunks) {
        c.rowOk = kernel.cmp(arith::CmpIPredicate::ult, c.row, rows);
        c.source = sourceRow(
            kernel,
            kernel.add(first, kernel.select(c.rowOk, c.row, kernel.idx(0))));
      }
    }
    auto multipleOf8 = [&](Value size) {
      return isZero(kernel, arith::RemUIOp::create(kernel.b, kernel.loc, size,
                                                   kernel.idx(8)));
    };
    t.kAligned = multipleOf8(kDim);
    t.nAligned = multipleOf8(nDim);
    return t;
  }

  void body(Emitter &g, const Kernel &ids, Value colTiles, Value aTile,
            Value bTile, bool tensorCores) const {
    auto [valid, expert, first, rows] = tileOf(g, ids);
    g.ifThen(valid, [&](Emitter &kernel) {
      Thread t =
          threadOf(kernel, ids, colTiles, tiling.gemmCols, expert, first, rows,
                   tensorCores ? std::optional<int64_t>(tiling.gemmDepth)
                               : std::nullopt);
      t.aTile = aTile;
      t.bTile = bTile;
      if (tensorCores)
        t.bChunks =
            chunksOf(kernel, ids.tid, tiling.gemmDepth, tiling.gemmCols);
      Value steps = kernel.ceilDiv(kDim, kernel.idx(tiling.gemmDepth));
      if (tensorCores)
        return storeTile(kernel, t, pipelinedLoop(kernel, t, steps), rows);
      SmallVector<Value> zeros(32, kernel.f32(0));
      SmallVector<Value> acc = kernel.loop(
          kernel.idx(0), steps, zeros,
          [&](Emitter &x, Value step, ValueRange carried) {
            stageElements(x, t, x.mul(step, x.idx(tiling.gemmDepth)));
            barrier(x);
            SmallVector<Value> next = fmaStage(x, t, carried);
            barrier(x);
            return next;
          });
      storeTile(kernel, t, acc, rows);
    });
  }

  //===--------------------------------------------------------------------===//
  // sm_90a: wgmma and TMA
  //===--------------------------------------------------------------------===//

  /// GPUTiling::warpgroupMma: one warpgroup per 64 x 64 tile; the weights'
  /// tiles come by TMA, whose maps need rows 16-byte aligned.
  bool usesWarpgroupMma(bool tensorCores) const {
    return tensorCores && tiling.warpgroupMma &&
           tiling.gemmRows == hopper::kTile &&
           tiling.gemmCols == hopper::kTile &&
           llvm::all_of(weights, [](Value weight) {
             int64_t n = staticLastDim(weight);
             return !ShapedType::isDynamic(n) && n % 8 == 0;
           });
  }

  /// The last size of `buffer` where its type or the buffer it is a cast
  /// or expansion of (the kernels take fully dynamic buffers) has it.
  static int64_t staticLastDim(Value buffer) {
    for (;;) {
      auto type = cast<MemRefType>(buffer.getType());
      if (!type.isDynamicDim(type.getRank() - 1))
        return type.getDimSize(type.getRank() - 1);
      if (auto cast = buffer.getDefiningOp<memref::CastOp>())
        buffer = cast.getSource();
      else if (auto expand = buffer.getDefiningOp<memref::ExpandShapeOp>())
        buffer = expand.getSrc();
      else
        return ShapedType::kDynamic;
    }
  }

  /// The sm_90a kernel's tile: 64 rows (wgmma's M, one warpgroup) by 128
  /// columns. Against 64 x 64, the bytes staged and read from shared memory
  /// per flop fall by a quarter (the model's bound for these GEMMs).
  static constexpr int64_t kHopperCols = 2 * hopper::kTile;
  /// Its shared memory (dynamic: past the 48 KiB of static memory): A's two
  /// stage slots (a 64 x 64 tile each), then the weight's two (two tiles
  /// each, 64 k x 64 n, one TMA box apiece); after the loop, over the
  /// first ones, the f32 tile the epilogue reads (rows padded by 8 words
  /// against bank conflicts).
  static constexpr int64_t kHopperRegionBytes = 6 * hopper::kTileBytes;
  static constexpr int64_t kEpiloguePitch = kHopperCols + 8;
  static_assert(hopper::kTile * kEpiloguePitch * 4 <= kHopperRegionBytes);

  /// The sm_90a kernel: per 64-deep stage, A's rows by cp.async into the
  /// swizzled layout and the weight's two tiles by TMA (thread 0) on the
  /// slot's mbarrier, then one wgmma m64n128 over the stage while the next
  /// stage's copies are in flight. The accumulator goes through shared
  /// memory to the epilogue's `store`, or straight from its fragments
  /// (epilogueFromRegisters).
  void hopperBody(Emitter &g, const Kernel &ids, Value colTiles,
                  ArrayRef<Value> maps) const {
    auto [valid, expert, first, rows] = tileOf(g, ids);
    g.ifThen(valid, [&](Emitter &kernel) {
      Thread t = threadOf(kernel, ids, colTiles, kHopperCols, expert, first,
                          rows, hopper::kTile);
      Value region = hopper::sharedRegion(kernel, kHopperRegionBytes);
      MLIRContext *ctx = kernel.b.getContext();
      Value barriers = hopper::createMBarriers(kernel, ids, 2, 1);
      barrier(kernel);
      Value steps = kernel.ceilDiv(kDim, kernel.idx(hopper::kTile));
      Value init = nvgpu::WarpgroupMmaInitAccumulatorOp::create(
          kernel.b, kernel.loc, hopper::accumulatorType(ctx, kHopperCols));
      Type element = cast<MemRefType>(input.getType()).getElementType();
      Value layout = hopper::layoutOnlyMap(kernel, element);
      auto compute = [&](Emitter &x, Value step, Value slot,
                         ValueRange carried) {
        hopper::waitPhase(x, barriers, slot, x.div(step, x.idx(2)));
        hopper::fenceProxyAsync(x); // A's cp.async writes
        barrier(x);
        Value out = hopper::warpgroupMma(
            x, hopperTile(x, region, slot, {hopper::kTile, hopper::kTile}),
            hopperTile(x, region, weightTile(x, slot, 0),
                       {hopper::kTile, kHopperCols}),
            layout, carried[0]);
        barrier(x);
        return SmallVector<Value>{out};
      };
      Value acc = twoStageLoop(
          kernel, steps, ValueRange{init},
          [&](Emitter &x, Value step, Value slot) {
            hopperStage(x, t, maps, region, barriers, step, slot);
          },
          compute)[0];
      if (epilogueFromRegisters) {
        forAccumulatorPairs(
            kernel, t, acc,
            [&](Value row, Value col, Value first, Value second) {
              storeElement(kernel, t, row, col, first, rows);
              storeElement(kernel, t, row, kernel.add(col, kernel.idx(1)),
                           second, rows);
            });
        return;
      }
      // The fragments' pairs as 8-byte stores: a phase's 16 lanes write 4
      // rows of 32 bytes, which the pitch (8 banks past a multiple of 32)
      // puts in distinct banks. (nvgpu's fragment store writes single f32
      // at a stride of 2 words: 2-way conflicts at any pitch.)
      Value tile = hopper::sharedView(kernel, region, kernel.idx(0),
                                      {hopper::kTile, kEpiloguePitch},
                                      kernel.b.getF32Type());
      auto pair = VectorType::get({2}, kernel.b.getF32Type());
      forAccumulatorPairs(
          kernel, t, acc, [&](Value row, Value col, Value first, Value second) {
            vector::StoreOp::create(
                kernel.b, kernel.loc,
                vector::FromElementsOp::create(kernel.b, kernel.loc, pair,
                                               ValueRange{first, second}),
                tile, ValueRange{row, col}, /*nontemporal=*/false,
                llvm::Align(8));
          });
      barrier(kernel);
      // A warp takes 32 consecutive columns of a row: no bank conflicts
      // reading, coalesced stores.
      kernel.loop(
          kernel.idx(0),
          kernel.idx(hopper::kTile * kHopperCols / tiling.gemmThreads()),
          [&](Emitter &x, Value i) {
            Value e = x.add(ids.tid, x.mul(i, x.idx(tiling.gemmThreads())));
            Value row = x.div(e, x.idx(kHopperCols));
            Value col =
                arith::RemUIOp::create(x.b, x.loc, e, x.idx(kHopperCols));
            storeElement(x, t, row, col, x.load(tile, {row, col}), rows);
          });
    });
  }

  /// fn(row, col, d[i], d[i + 1]) for the even i of the thread's fragment
  /// of the 64 x N accumulator: d[4 j + 2 h + e] is element (16 warp +
  /// lane / 4 + 8 h, 8 j + 2 (lane % 4) + e).
  static void
  forAccumulatorPairs(Emitter &x, const Thread &t, Value acc,
                      function_ref<void(Value, Value, Value, Value)> fn) {
    Value row = x.add(x.mul(t.ids.warp, x.idx(16)), t.group);
    Value col = x.mul(t.quad, x.idx(2));
    SmallVector<Value> d = hopper::fragment(x, acc);
    for (size_t i = 0; i < d.size(); i += 2)
      fn(x.add(row, x.idx(8 * ((i / 2) % 2))), x.add(col, x.idx(8 * (i / 4))),
         d[i], d[i + 1]);
  }

  /// Stage `step` into slot `slot`: A's rows (swizzled; issued, not
  /// committed) and, by thread 0, the weight's two tiles on the slot's
  /// mbarrier.
  void hopperStage(Emitter &x, const Thread &t, ArrayRef<Value> maps,
                   Value region, Value barriers, Value step, Value slot) const {
    Value k0 = x.mul(step, x.idx(hopper::kTile));
    Value a = hopperTile(x, region, slot, {hopper::kTile, hopper::kTile});
    forChunks(x, t.aChunks, hopper::kTile, tiling.gemmThreads(),
              hopper::kTile / 8, [&](Emitter &y, const Chunk &c) {
                auto [count, kk] = within(y, y.add(k0, c.col), kDim);
                count = y.select(c.rowOk, count, y.idx(0));
                copy8(y, a, {c.row, hopper::swizzledColumn(y, c.row, c.col)},
                      input, {c.source, kk}, count, t.kAligned);
              });
    Value leader = x.cmp(arith::CmpIPredicate::eq, t.ids.tid, x.idx(0));
    x.ifThen(leader, [&](Emitter &y) {
      // A box wholly past N is not loaded: the columns it would give are
      // never stored.
      Value second = y.add(t.n0, y.idx(hopper::kTile));
      Value both = y.cmp(arith::CmpIPredicate::ult, second, nDim);
      nvgpu::MBarrierArriveExpectTxOp::create(
          y.b, y.loc, barriers,
          y.select(both, y.idx(2 * hopper::kTileBytes),
                   y.idx(hopper::kTileBytes)),
          slot, Value());
      for (auto [w, map] : llvm::enumerate(maps))
        y.ifThen(y.cmp(arith::CmpIPredicate::eq, t.which, y.idx(w)),
                 [&](Emitter &z) {
                   auto load = [&, map = map](Emitter &u, int64_t box,
                                              Value n) {
                     nvgpu::TmaAsyncLoadOp::create(
                         u.b, u.loc,
                         hopperTile(u, region, weightTile(u, slot, box),
                                    {1, hopper::kTile, hopper::kTile}),
                         barriers, map, ValueRange{n, k0, t.expert}, slot,
                         Value(), Value());
                   };
                   load(z, 0, t.n0);
                   z.ifThen(both, [&](Emitter &u) { load(u, 1, second); });
                 });
    });
  }

  /// The region's 64 x 64 tile holding the weight's `box`th box of stage
  /// slot `slot` (A's slot s is tile s; a slot's boxes lie one after the
  /// other, as wgmma's N-major B expects them).
  static Value weightTile(Emitter &x, Value slot, int64_t box) {
    return x.add(x.mul(slot, x.idx(2)), x.idx(2 + box));
  }

  /// A `shape` view of the operands' type from 64 x 64 tile `tile` of the
  /// region on.
  Value hopperTile(Emitter &x, Value region, Value tile,
                   ArrayRef<int64_t> shape) const {
    return hopper::sharedView(
        x, region, x.mul(tile, x.idx(hopper::kTileBytes)), shape,
        cast<MemRefType>(input.getType()).getElementType());
  }

  /// gemmDepth / 16 m16n8k16 steps on tile slot `slot`; per step each warp
  /// loads A's two m16 fragments and the weight's four n8 fragments by
  /// ldmatrix.
  SmallVector<Value> mmaStage(Emitter &x, const Thread &t, ValueRange carried,
                              Value slot) const {
    SmallVector<Value> acc(carried.begin(), carried.end());
    Type element = cast<MemRefType>(t.aTile.getType()).getElementType();
    Value aFirst, bFirst;
    std::tie(aFirst, bFirst) = slotRows(x, slot);
    Value warpRow = x.add(aFirst, t.warpRow);
    for (int64_t ks = 0; ks < tiling.gemmDepth; ks += 16) {
      SmallVector<Value> a[2], b[4];
      for (int64_t mi = 0; mi < 2; ++mi)
        a[mi] = loadFragmentA(x, t.aTile, t.ids.lane,
                              x.add(warpRow, x.idx(mi * 16)), x.idx(ks));
      for (int64_t nj = 0; nj < 2; ++nj) {
        auto pair =
            loadFragmentsB(x, t.bTile, t.ids.lane, x.add(bFirst, x.idx(ks)),
                           x.add(t.warpCol, x.idx(nj * 16)), /*kMajor=*/true);
        b[2 * nj] = pair[0];
        b[2 * nj + 1] = pair[1];
      }
      for (int64_t mi = 0; mi < 2; ++mi)
        for (int64_t ni = 0; ni < 4; ++ni) {
          int64_t base = (mi * 4 + ni) * 4;
          SmallVector<Value> d = mmaSync16816(
              x, element, a[mi], b[ni], ArrayRef<Value>(acc).slice(base, 4));
          std::copy(d.begin(), d.end(), acc.begin() + base);
        }
    }
    return acc;
  }

  /// The same fragments with f32 FMAs.
  SmallVector<Value> fmaStage(Emitter &x, const Thread &t,
                              ValueRange carried) const {
    return x.loop(
        x.idx(0), x.idx(tiling.gemmDepth), carried,
        [&](Emitter &y, Value kk, ValueRange accIn) {
          SmallVector<Value> acc(accIn.begin(), accIn.end());
          Value a[2][2], b[4][2];
          for (int64_t mi = 0; mi < 2; ++mi)
            for (int64_t h = 0; h < 2; ++h)
              a[mi][h] = y.load(
                  t.aTile,
                  {y.add(t.warpRow, y.add(t.group, y.idx(mi * 16 + 8 * h))),
                   kk});
          for (int64_t ni = 0; ni < 4; ++ni)
            for (int64_t j = 0; j < 2; ++j)
              b[ni][j] = y.load(
                  t.bTile, {kk, y.add(t.warpCol, y.add(y.mul(t.quad, y.idx(2)),
                                                       y.idx(ni * 8 + j)))});
          for (int64_t mi = 0; mi < 2; ++mi)
            for (int64_t ni = 0; ni < 4; ++ni)
              for (int64_t c = 0; c < 4; ++c) {
                Value &slot = acc[(mi * 4 + ni) * 4 + c];
                slot = math::FmaOp::create(y.b, y.loc, a[mi][c / 2],
                                           b[ni][c % 2], slot);
              }
          return acc;
        });
  }
};

//===----------------------------------------------------------------------===//
// moa.route (with the router projection fused when it feeds the op)
//===----------------------------------------------------------------------===//

/// One warp routes one token: lane l owns experts l, l + 32, ...
struct TokenRouter {
  const Kernel &ids;
  Value token, x, wg, model; // x and wg null when the logits are given
  Value logits, experts, k, mask, indices, gates;
  bool topkSoftmax, renormalize;

  /// body(slot, expert, acc) for each expert of this lane, as a loop
  /// carrying `init`.
  SmallVector<Value> forOwnExperts(
      Emitter &e, ValueRange init,
      function_ref<SmallVector<Value>(Emitter &, Value, Value, ValueRange)>
          body) const {
    Value slots = e.ceilDiv(experts, e.idx(kWarp));
    return e.loop(
        e.idx(0), slots, init, [&](Emitter &y, Value i, ValueRange acc) {
          Value expert = y.add(ids.lane, y.mul(i, y.idx(kWarp)));
          Value inRange = y.cmp(arith::CmpIPredicate::ult, expert, experts);
          if (acc.empty()) {
            y.ifThen(inRange, [&](Emitter &z) { body(z, i, expert, acc); });
            return SmallVector<Value>();
          }
          auto inside = scf::IfOp::create(y.b, y.loc, acc.getTypes(), inRange,
                                          /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(y.b);
          y.b.setInsertionPointToStart(inside.thenBlock());
          Emitter z(y.b, y.loc);
          scf::YieldOp::create(y.b, y.loc, body(z, i, expert, acc));
          y.b.setInsertionPointToStart(inside.elseBlock());
          scf::YieldOp::create(y.b, y.loc, acc);
          return SmallVector<Value>(inside.getResults());
        });
  }

  /// The router projection of the warp's tokens [first, first +
  /// kRouterTokens) below `count` (at least `first` + 1), in f32 FMAs, each
  /// lane its own experts: per token the sum in model order, 4 terms per
  /// iteration (the token's 4 inputs in one load), then the rest one by
  /// one; each weight value is loaded once for all the tokens.
  void project(Emitter &w, Value first, Value count) const {
    Type element = cast<MemRefType>(x.getType()).getElementType();
    SmallVector<Value> rows;
    for (int64_t r = 0; r < kRouterTokens; ++r)
      rows.push_back(w.min(w.add(first, w.idx(r)), w.sub(count, w.idx(1))));
    auto weight = [&](Emitter &z, Value c, Value expert) {
      return toF32(z, z.load(wg, {c, expert}));
    };
    // One rounding per term (an FMA: half the instructions of a multiply
    // and an add, which the GPU would not fuse on its own).
    auto term = [&](Emitter &z, Value acc, Value input, Value weight) {
      return math::FmaOp::create(z.b, z.loc, toF32(z, input), weight, acc)
          .getResult();
    };
    forOwnExperts(w, {}, [&](Emitter &y, Value, Value expert, ValueRange) {
      Value whole = y.mul(y.div(model, y.idx(4)), y.idx(4));
      SmallVector<Value> dots = y.stridedLoop(
          y.idx(0), whole, y.idx(4),
          SmallVector<Value>(kRouterTokens, y.f32(0)),
          [&](Emitter &z, Value c, ValueRange acc) {
            SmallVector<Value> weights;
            for (int64_t i = 0; i < 4; ++i)
              weights.push_back(weight(z, z.add(c, z.idx(i)), expert));
            SmallVector<Value> sums;
            for (auto [row, sum] : llvm::zip(rows, acc)) {
              Value inputs = vector::LoadOp::create(
                  z.b, z.loc, VectorType::get({4}, element), x,
                  ValueRange{row, c});
              for (int64_t i = 0; i < 4; ++i)
                sum = term(z, sum,
                           vector::ExtractOp::create(z.b, z.loc, inputs, i),
                           weights[i]);
              sums.push_back(sum);
            }
            return sums;
          });
      dots =
          y.loop(whole, model, dots, [&](Emitter &z, Value c, ValueRange acc) {
            Value v = weight(z, c, expert);
            SmallVector<Value> sums;
            for (auto [row, sum] : llvm::zip(rows, acc))
              sums.push_back(term(z, sum, z.load(x, {row, c}), v));
            return sums;
          });
      for (int64_t r = 0; r < kRouterTokens; ++r) {
        Value token = y.add(first, y.idx(r));
        Value inside = y.cmp(arith::CmpIPredicate::ult, token, count);
        y.ifThen(inside, [&](Emitter &z) {
          z.store(dots[r], logits, {token, expert});
        });
      }
      return SmallVector<Value>();
    });
  }

  /// Top-k by k warp-wide arg-max steps; each lane masks what it gave. Lane
  /// 0 writes the indices and, for now, the selected logits as gates.
  void selectTopK(Emitter &r) const {
    Type i64 = r.b.getI64Type();
    Value none = arith::ConstantIntOp::create(r.b, r.loc, -1, 32);
    r.loop(
        r.idx(0), k, {arith::ConstantIntOp::create(r.b, r.loc, 0, 64)},
        [&](Emitter &y, Value slot, ValueRange taken) {
          SmallVector<Value> best = forOwnExperts(
              y, {negInf(y), none},
              [&](Emitter &z, Value i, Value expert, ValueRange acc) {
                Value bit = arith::ShRUIOp::create(
                    z.b, z.loc, taken[0],
                    arith::IndexCastOp::create(z.b, z.loc, i64, i));
                Value free =
                    z.cmp(arith::CmpIPredicate::eq,
                          z.andI(bit, arith::ConstantIntOp::create(z.b, z.loc,
                                                                   1, 64)),
                          arith::ConstantIntOp::create(z.b, z.loc, 0, 64));
                // NaN ranks below every number (as -inf), so all lanes agree
                // on the order and no expert is taken twice.
                Value raw = z.load(logits, {token, expert});
                Value v = z.select(z.cmpf(arith::CmpFPredicate::UNO, raw, raw),
                                   negInf(z), raw);
                Value better = z.andI(
                    free, z.orI(z.cmp(arith::CmpIPredicate::eq, acc[1], none),
                                z.cmpf(arith::CmpFPredicate::OGT, v, acc[0])));
                return SmallVector<Value>{
                    z.select(better, v, acc[0]),
                    z.select(better, z.toI32(expert), acc[1])};
              });
          auto [value, index] = warpArgMax(y, best[0], best[1]);
          Value winner = y.toIndex(index);
          Value mine = y.andI(
              y.cmp(arith::CmpIPredicate::ne, index, none),
              y.cmp(arith::CmpIPredicate::eq,
                    arith::RemSIOp::create(y.b, y.loc, winner, y.idx(kWarp)),
                    ids.lane));
          Value bit = arith::ShLIOp::create(
              y.b, y.loc, arith::ConstantIntOp::create(y.b, y.loc, 1, 64),
              arith::IndexCastOp::create(
                  y.b, y.loc, i64,
                  arith::DivSIOp::create(y.b, y.loc, winner, y.idx(kWarp))));
          y.ifThen(isZero(y, ids.lane), [&](Emitter &z) {
            z.store(index, indices, {token, slot});
            z.store(value, gates, {token, slot}); // the logit, for now
          });
          return SmallVector<Value>{
              y.select(mine, y.orI(taken[0], bit), taken[0])};
        });
  }

  /// Lane 0 turns the k selected logits into gates: softmax over all E
  /// (`maximum`, `total`) or over the k, then the optional renormalisation.
  void writeGates(Emitter &z, Value maximum, Value total) const {
    Value reference = maximum, denominator = total;
    if (topkSoftmax) {
      reference = z.load(gates, {token, z.idx(0)});
      denominator = z.loop(
          z.idx(0), k, {z.f32(0)}, [&](Emitter &y, Value s, ValueRange acc) {
            Value d = y.subf(y.load(gates, {token, s}), reference);
            return SmallVector<Value>{y.addf(acc[0], y.exp(d))};
          })[0];
    }
    Value sum = z.loop(
        z.idx(0), k, {z.f32(0)}, [&](Emitter &y, Value s, ValueRange acc) {
          Value gate = y.divf(
              y.exp(y.subf(y.load(gates, {token, s}), reference)), denominator);
          y.store(gate, gates, {token, s});
          return SmallVector<Value>{y.addf(acc[0], gate)};
        })[0];
    auto divideBySum = [&](Emitter &y) {
      y.loop(y.idx(0), k, [&](Emitter &v, Value s) {
        v.store(v.divf(v.load(gates, {token, s}), sum), gates, {token, s});
      });
    };
    if (renormalize)
      z.ifThen(z.cmpf(arith::CmpFPredicate::OGT, sum, z.f32(0)), divideBySum);
  }

  /// Softmax statistics over the warp, top-k, gates.
  void route(Emitter &r) const {
    Value localMax = forOwnExperts(
        r, {negInf(r)}, [&](Emitter &y, Value, Value expert, ValueRange acc) {
          return SmallVector<Value>{
              y.maxf(acc[0], y.load(logits, {token, expert}))};
        })[0];
    Value maximum = warpMax(r, localMax);
    Value localSum = forOwnExperts(
        r, {r.f32(0)}, [&](Emitter &y, Value, Value expert, ValueRange acc) {
          Value d = y.subf(y.load(logits, {token, expert}), maximum);
          return SmallVector<Value>{y.addf(acc[0], y.exp(d))};
        })[0];
    Value total = warpSum(r, localSum);
    selectTopK(r);
    r.ifThen(isZero(r, ids.lane),
             [&](Emitter &z) { writeGates(z, maximum, total); });
  }

  /// The token's routing, or index -1 and gate 0 in every slot for a
  /// padded token.
  void run(Emitter &w) const {
    if (!mask)
      return route(w);
    w.ifThen(
        w.load(mask, {token}),
        [&](Emitter &y) {
          y.ifThen(isZero(y, ids.lane), [&](Emitter &z) {
            z.loop(z.idx(0), k, [&](Emitter &v, Value s) {
              v.store(arith::ConstantIntOp::create(v.b, v.loc, -1, 32), indices,
                      {token, s});
              v.store(v.f32(0), gates, {token, s});
            });
          });
        },
        [&](Emitter &y) { route(y); });
  }
};

/// moa.route (given logits: kernel moa_route) and moa.project_route (the
/// router projection fused in: kernel moa_router), one warp per
/// kRouterTokens tokens: their projection, then each one's routing.
template <typename OpTy> struct LowerRouting : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  static constexpr bool kFused = std::is_same_v<OpTy, ProjectRouteOp>;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    Value batch, length, experts, x, wg, model, logits;
    SmallVector<std::pair<Value, Value>> sizes;
    if constexpr (kFused) {
      Value xTensor = op.getX(), wTensor = op.getWGate();
      batch = tb.dim(xTensor, 0);
      length = tb.dim(xTensor, 1);
      model = tb.dim(xTensor, 2);
      experts = tb.dim(wTensor, 1);
      sizes.push_back({tb.dim(wTensor, 0), model});
      x = tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}});
      wg = tb.buffer(wTensor);
      logits = deviceAlloc(e, f32, {batch, length, experts});
    } else {
      batch = tb.dim(op.getLogits(), 0);
      length = tb.dim(op.getLogits(), 1);
      experts = tb.dim(op.getLogits(), 2);
      logits = tb.buffer(op.getLogits());
    }
    Value tokens = e.mul(batch, length);
    Value rows = tb.collapse(logits, {{0, 1}, {2}});
    Value k = e.idx(op.getK());
    Value maskTensor = op.getQueryPaddingMask();
    if (maskTensor)
      sizes.append(
          {{tb.dim(maskTensor, 0), batch}, {tb.dim(maskTensor, 1), length}});
    Value mask =
        maskTensor ? tb.collapse(tb.buffer(maskTensor), {{0, 1}}) : Value();
    Value ok = e.andI(tb.agree(sizes),
                      e.andI(e.cmp(arith::CmpIPredicate::sle, k, experts),
                             e.cmp(arith::CmpIPredicate::sle, experts,
                                   e.idx(kMaxRouterExperts))));
    Value indices3 = deviceAlloc(e, i32, {batch, length, k});
    Value gates3 = deviceAlloc(e, f32, {batch, length, k});
    Value indices = tb.collapse(indices3, {{0, 1}, {2}});
    Value gates = tb.collapse(gates3, {{0, 1}, {2}});
    const bool topkSoftmax = op.getGating() == Gating::TopKSoftmax;
    const bool renormalize = op.getRenormalize();

    Value blocks =
        atLeastOne(e, e.ceilDiv(tokens, e.idx(kRouterWarps * kRouterTokens)));
    launch(e, kFused ? "moa_router" : "moa_route", blocks, e.idx(1),
           kRouterWarps * kWarp, {},
           [&](Emitter &kernel, const Kernel &ids, ValueRange) {
             whenShapesAgree(kernel, ids, ok, err, [&](Emitter &g) {
               Value first =
                   g.mul(g.add(g.mul(ids.bidX, g.idx(kRouterWarps)), ids.warp),
                         g.idx(kRouterTokens));
               TokenRouter router{ids,   first,       x,          wg,   model,
                                  rows,  experts,     k,          mask, indices,
                                  gates, topkSoftmax, renormalize};
               g.ifThen(g.cmp(arith::CmpIPredicate::ult, first, tokens),
                        [&](Emitter &w) {
                          if (x)
                            router.project(w, first, tokens);
                          Value end =
                              w.min(w.add(first, w.idx(kRouterTokens)), tokens);
                          w.loop(first, end, [&](Emitter &y, Value token) {
                            TokenRouter one = router;
                            one.token = token;
                            one.run(y);
                          });
                        });
             });
           });

    // moa-run's head usage: moa-gpu-host-boundary copies the indices to the
    // host, recorded when the entry returns.
    RecordRoutingOp::create(rewriter, e.loc, indices3, experts);
    Value indicesResult = tb.result(indices3, op.getIndices().getType());
    Value gatesResult = tb.result(gates3, op.getGates().getType());
    if constexpr (kFused)
      rewriter.replaceOp(op, {tb.result(logits, op.getLogits().getType()),
                              indicesResult, gatesResult});
    else
      rewriter.replaceOp(op, {indicesResult, gatesResult});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moa.dispatch: histogram, scan, stable scatter; all on the device
//===----------------------------------------------------------------------===//

struct LowerDispatch : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type i32 = rewriter.getI32Type();
    Value indicesTensor = op.getIndices();
    Value pairs =
        e.mul(e.mul(tb.dim(indicesTensor, 0), tb.dim(indicesTensor, 1)),
              tb.dim(indicesTensor, 2));
    Value flat = tb.collapse(tb.buffer(indicesTensor), {{0, 1, 2}});
    const int64_t numExperts = op.getNumExperts();
    Value permutation = deviceAlloc(e, i32, {pairs});
    Value offsets = deviceAlloc(e, i32, {e.idx(numExperts + 1)});
    // counts[g]: pairs of expert g; group E holds index -1 (and bad ones).
    Value counts = deviceAlloc(e, i32, {e.idx(numExperts + 1)});
    deviceFill(e, counts, arith::ConstantIntOp::create(rewriter, e.loc, 0, 32));

    auto groupOf = [&](Emitter &x, Value pair) {
      return loops::dispatchGroup(x, flat, pair, x.idx(numExperts));
    };
    Value one = arith::ConstantIntOp::create(rewriter, e.loc, 1, 32);

    launch(e, "moa_dispatch_count",
           atLeastOne(e, e.ceilDiv(pairs, e.idx(kDispatchThreads))), e.idx(1),
           kDispatchThreads, {},
           [&](Emitter &kernel, const Kernel &ids, ValueRange) {
             Value pair = kernel.add(
                 kernel.mul(ids.bidX, kernel.idx(kDispatchThreads)), ids.tid);
             kernel.ifThen(
                 kernel.cmp(arith::CmpIPredicate::ult, pair, pairs),
                 [&](Emitter &x) {
                   auto [group, invalid] = groupOf(x, pair);
                   memref::AtomicRMWOp::create(x.b, x.loc,
                                               arith::AtomicRMWKind::addi, one,
                                               counts, ValueRange{group});
                   x.ifThen(invalid, [&](Emitter &y) {
                     fail(y, err, FailureCode::DispatchIndexOutOfRange);
                   });
                 });
           });
    // Exclusive scan over E + 1 counts: one thread, E is small.
    launch(e, "moa_dispatch_scan", e.idx(1), e.idx(1), 1, {},
           [&](Emitter &kernel, const Kernel &, ValueRange) {
             kernel.loop(kernel.idx(0), kernel.idx(numExperts + 1),
                         {kernel.idx(0)},
                         [&](Emitter &x, Value g, ValueRange start) {
                           x.store(x.toI32(start[0]), offsets, {g});
                           Value count = x.toIndex(x.load(counts, {g}));
                           return SmallVector<Value>{x.add(start[0], count)};
                         });
           });
    // Stable scatter: block g walks all pairs in chunks; each thread counts
    // its pairs of expert g, a block-wide scan places them in order.
    const int64_t chunk = kDispatchThreads * kDispatchItems;
    launch(
        e, "moa_dispatch_scatter", e.idx(numExperts + 1), e.idx(1),
        kDispatchThreads,
        {sharedBuffer({kDispatchThreads}, rewriter.getIndexType())},
        [&](Emitter &kernel, const Kernel &ids, ValueRange shared) {
          Value scan = shared[0];
          Value group = ids.bidX;
          Value base = kernel.toIndex(kernel.load(offsets, {group}));
          kernel.loop(
              kernel.idx(0), kernel.ceilDiv(pairs, kernel.idx(chunk)),
              {kernel.idx(0)}, [&](Emitter &x, Value c, ValueRange placed) {
                Value start = x.add(x.mul(c, x.idx(chunk)),
                                    x.mul(ids.tid, x.idx(kDispatchItems)));
                auto matches = [&](Emitter &y, Value pair) {
                  Value inside = y.cmp(arith::CmpIPredicate::ult, pair, pairs);
                  Value safe = y.select(inside, pair, y.idx(0));
                  return y.andI(inside, y.cmp(arith::CmpIPredicate::eq,
                                              groupOf(y, safe).first, group));
                };
                Value mine =
                    x.loop(x.idx(0), x.idx(kDispatchItems), {x.idx(0)},
                           [&](Emitter &y, Value i, ValueRange n) {
                             return SmallVector<Value>{y.add(
                                 n[0], y.select(matches(y, y.add(start, i)),
                                                y.idx(1), y.idx(0)))};
                           })[0];
                // Inclusive scan of the per-thread counts (Hillis-Steele).
                x.store(mine, scan, {ids.tid});
                barrier(x);
                for (int64_t d = 1; d < kDispatchThreads; d *= 2) {
                  Value has =
                      x.cmp(arith::CmpIPredicate::uge, ids.tid, x.idx(d));
                  Value left = loadIf(x, has, scan, {x.sub(ids.tid, x.idx(d))},
                                      x.idx(0));
                  Value sum = x.add(x.load(scan, {ids.tid}), left);
                  barrier(x);
                  x.store(sum, scan, {ids.tid});
                  barrier(x);
                }
                Value inclusive = x.load(scan, {ids.tid});
                Value chunkTotal = x.load(scan, {x.idx(kDispatchThreads - 1)});
                Value position =
                    x.add(x.add(base, placed[0]), x.sub(inclusive, mine));
                x.loop(x.idx(0), x.idx(kDispatchItems), {position},
                       [&](Emitter &y, Value i, ValueRange at) {
                         Value pair = y.add(start, i);
                         Value hit = matches(y, pair);
                         y.ifThen(hit, [&](Emitter &z) {
                           z.store(z.toI32(pair), permutation, {at[0]});
                         });
                         return SmallVector<Value>{
                             y.add(at[0], y.select(hit, y.idx(1), y.idx(0)))};
                       });
                barrier(x); // before the next chunk reuses the scan buffer
                return SmallVector<Value>{x.add(placed[0], chunkTotal)};
              });
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

struct LowerGroupedMatmul : OpRewritePattern<GroupedMatmulOp> {
  LowerGroupedMatmul(MLIRContext *ctx, const GPUTiling &tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}
  const GPUTiling &tiling;

  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!loops::GroupedRows::isI32(op.getPermutation(), op.getOffsets()))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Type f32 = rewriter.getF32Type();
    ShapedType resultType = op.getType();
    Type resultElement = resultType.getElementType();
    loops::GroupedRows g(tb, op.getInput(), op.getWeight(), op.getPermutation(),
                         op.getOffsets(), op.getGates(),
                         loops::GroupedRows::Widen::Nothing);
    const bool combine = g.combine, tokenRows = g.tokenRows;
    Value batch = g.batch, length = g.length, tokens = g.tokens;
    Value numExperts = g.numExperts, kDim = g.kDim, nDim = g.nDim;
    Value k = g.slots(tb, op.getResult());
    Value pairs = e.mul(tokens, k);
    Value ok =
        e.andI(tb.agree(g.sizeChecks(tb, k)), g.groupingSizesOk(tb, pairs));
    Value input = g.input, weight = g.weight, perm = g.perm, off = g.off,
          gates = g.gates;

    // Scatter writes [B, T, k, N] in the result type; the combine adds into
    // an f32 [B, T, N] (narrowed after when the result is 16-bit).
    SmallVector<Value> resultSizes = {batch, length};
    if (!combine)
      resultSizes.push_back(k);
    resultSizes.push_back(nDim);
    Value result = deviceAlloc(e, resultElement, resultSizes);
    Value accumulator = combine && resultElement != f32
                            ? deviceAlloc(e, f32, resultSizes)
                            : result;
    deviceFill(
        e, accumulator,
        zeroOf(e, cast<MemRefType>(accumulator.getType()).getElementType()));
    Value out =
        tb.collapse(accumulator, loops::GroupedRows::rowGroups(combine));

    TiledGemm gemm{tiling};
    gemm.name = combine ? "moa_grouped_matmul_combine" : "moa_grouped_matmul";
    gemm.input = input;
    gemm.weights = {weight};
    gemm.kDim = kDim;
    gemm.nDim = nDim;
    // At most ceil(pairs / tile rows) + E tiles of one expert each.
    gemm.rowTiles = e.add(e.ceilDiv(pairs, e.idx(tiling.gemmRows)), numExperts);
    gemm.tileOf = [&](Emitter &x, const Kernel &ids) {
      return expertTile(x, ids, off, numExperts, pairs, err);
    };
    auto pairOf = [&](Emitter &x, Value row) {
      Value pair = x.toIndex(x.load(perm, {row}));
      Value valid = x.andI(x.cmp(arith::CmpIPredicate::sge, pair, x.idx(0)),
                           x.cmp(arith::CmpIPredicate::slt, pair, pairs));
      x.ifThen(x.notI(valid), [&](Emitter &y) {
        fail(y, err, FailureCode::GroupedMatmulBadPermutation);
      });
      return std::make_pair(x.select(valid, pair, x.idx(0)), valid);
    };
    gemm.sourceRow = [&](Emitter &x, Value row) {
      Value pair = pairOf(x, row).first;
      return tokenRows ? x.div(pair, k) : pair;
    };
    gemm.epilogueFromRegisters = combine;
    gemm.store = [&](Emitter &x, Value, Value row, Value col, Value acc) {
      auto [pair, valid] = pairOf(x, row);
      x.ifThen(valid, [&](Emitter &y) {
        if (!combine) {
          y.store(fromF32(y, acc, resultElement), out, {pair, col});
          return;
        }
        Value gated = y.mulf(y.load(gates, {pair}), acc);
        memref::AtomicRMWOp::create(y.b, y.loc, arith::AtomicRMWKind::addf,
                                    gated, out,
                                    ValueRange{y.div(pair, k), col});
      });
    };
    gemm.emit(e, ok, err);
    if (accumulator != result)
      emitNarrow(e, tb.collapse(accumulator, {{0, 1, 2}}),
                 tb.collapse(result, {{0, 1, 2}}), e.mul(tokens, nDim));
    rewriter.replaceOp(op, tb.result(result, resultType));
    return success();
  }

  /// The per-tile expert map: block b takes the b-th tile of gemmRows rows
  /// when the dispatched rows of each expert are cut into such tiles in
  /// expert order. Offsets that decrease or run past the pairs are reported
  /// and give no tile.
  std::array<Value, 4> expertTile(Emitter &x, const Kernel &ids, Value off,
                                  Value numExperts, Value pairs,
                                  Value err) const {
    Value tile = x.idx(tiling.gemmRows);
    Value no = x.cmp(arith::CmpIPredicate::ne, x.idx(0), x.idx(0));
    auto offsetAt = [&](Emitter &y, Value i) {
      return y.toIndex(y.load(off, {i}));
    };
    Value end = offsetAt(x, numExperts);
    Value sane = x.andI(isZero(x, offsetAt(x, x.idx(0))),
                        x.cmp(arith::CmpIPredicate::sle, end, pairs));
    SmallVector<Value> found = x.loop(
        x.idx(0), numExperts,
        {x.idx(0), no, sane, x.idx(0), x.idx(0), x.idx(0)},
        [&](Emitter &y, Value ex, ValueRange acc) {
          Value before = acc[0], seen = acc[1], good = acc[2];
          Value first = offsetAt(y, ex);
          Value last = offsetAt(y, y.add(ex, y.idx(1)));
          Value ordered = y.cmp(arith::CmpIPredicate::sle, first, last);
          Value count = y.select(ordered, y.sub(last, first), y.idx(0));
          Value tiles = y.ceilDiv(count, tile);
          Value hit =
              y.andI(y.notI(seen), y.cmp(arith::CmpIPredicate::ult, ids.bidX,
                                         y.add(before, tiles)));
          Value start =
              y.mul(y.sub(y.select(hit, ids.bidX, before), before), tile);
          return SmallVector<Value>{
              y.add(before, tiles),
              y.orI(seen, hit),
              y.andI(good, ordered),
              y.select(hit, ex, acc[3]),
              y.select(hit, y.add(first, start), acc[4]),
              y.select(hit, y.min(tile, y.sub(count, start)), acc[5])};
        });
    Value good = found[2];
    x.ifThen(x.andI(x.notI(good), isZero(x, x.add(ids.tid, ids.bidY))),
             [&](Emitter &y) {
               fail(y, err, FailureCode::GroupedMatmulBadPermutation);
             });
    return {x.andI(found[1], good), found[3], found[4], found[5]};
  }
};

//===----------------------------------------------------------------------===//
// Row projections (the shared K and V; the router when not fused)
//===----------------------------------------------------------------------===//

/// results[i] = inits[i] + x weights[i] ([B, T, K] x [K, N] -> [B, T, N]) as
/// one tiled GEMM launch over all the weights (of one shape); a null init
/// (or a zero fill) adds nothing. The results are new device buffers, or
/// the given `outBuffers` (which may be the inits: each element is read
/// and written by one thread).
SmallVector<Value> projectOnDevice(PatternRewriter &rewriter,
                                   const GPUTiling &tiling, Operation *op,
                                   Value xTensor, ValueRange wTensors,
                                   ArrayRef<Value> initTensors,
                                   ArrayRef<ShapedType> resultTypes,
                                   ArrayRef<Value> outBuffers = {}) {
  Value err = errorWord(rewriter, op);
  TensorBoundary tb(rewriter, op);
  Emitter &e = tb.e;
  Value batch = tb.dim(xTensor, 0), length = tb.dim(xTensor, 1);
  Value kDim = tb.dim(xTensor, 2), nDim = tb.dim(wTensors[0], 1);
  SmallVector<std::pair<Value, Value>> sizes;
  SmallVector<Value> inits, results, outs;
  TiledGemm gemm{tiling};
  for (auto [i, w, given, type] :
       llvm::enumerate(wTensors, initTensors, resultTypes)) {
    sizes.append({{tb.dim(w, 0), kDim}, {tb.dim(w, 1), nDim}});
    // A zero init is never read (nor kept alive by its sizes).
    Value initTensor = given && !isZeroFill(given) ? given : Value();
    if (initTensor)
      sizes.append({{tb.dim(initTensor, 0), batch},
                    {tb.dim(initTensor, 1), length},
                    {tb.dim(initTensor, 2), nDim}});
    inits.push_back(initTensor
                        ? tb.collapse(tb.buffer(initTensor), {{0, 1}, {2}})
                        : Value());
    if (outBuffers.empty())
      results.push_back(
          deviceAlloc(e, type.getElementType(), {batch, length, nDim}));
    else
      results.push_back(outBuffers[i]);
    outs.push_back(tb.collapse(results.back(), {{0, 1}, {2}}));
    // One "expert": [K, N] viewed as [1, K, N].
    Value buffer = tb.buffer(w);
    gemm.weights.push_back(memref::ExpandShapeOp::create(
        rewriter, e.loc,
        MemRefType::get({1, ShapedType::kDynamic, ShapedType::kDynamic},
                        cast<MemRefType>(buffer.getType()).getElementType()),
        buffer, ArrayRef<ReassociationIndices>{{0, 1}, {2}},
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1), kDim, nDim}));
  }
  Value ok = tb.agree(sizes);
  Value rows = e.mul(batch, length);
  gemm.name = "moa_projection";
  gemm.input = tb.collapse(tb.buffer(xTensor), {{0, 1}, {2}});
  gemm.kDim = kDim;
  gemm.nDim = nDim;
  gemm.rowTiles = e.ceilDiv(rows, e.idx(tiling.gemmRows));
  gemm.tileOf = [&](Emitter &x, const Kernel &ids) -> std::array<Value, 4> {
    Value first = x.mul(ids.bidX, x.idx(tiling.gemmRows));
    Value valid = x.cmp(arith::CmpIPredicate::ult, first, rows);
    Value count = x.min(x.idx(tiling.gemmRows),
                        x.sub(rows, x.select(valid, first, rows)));
    return {valid, x.idx(0), first, count};
  };
  gemm.sourceRow = [](Emitter &, Value row) { return row; };
  gemm.store = [&](Emitter &x, Value which, Value row, Value col, Value acc) {
    for (auto [i, init, out] : llvm::enumerate(inits, outs)) {
      auto write = [&](Emitter &y) {
        Value sum =
            init ? y.addf(toF32(y, y.load(init, {row, col})), acc) : acc;
        Type element = cast<MemRefType>(out.getType()).getElementType();
        y.store(fromF32(y, sum, element), out, {row, col});
      };
      if (outs.size() == 1)
        write(x);
      else
        x.ifThen(x.cmp(arith::CmpIPredicate::eq, which, x.idx(i)), write);
    }
  };
  gemm.emit(e, ok, err);
  SmallVector<Value> tensors;
  for (auto [result, type] : llvm::zip(results, resultTypes))
    tensors.push_back(tb.result(result, type));
  return tensors;
}

/// A row projection not fused into a moa op. In buffer form the kernel
/// writes the op's output buffer, adding what it holds unless the op is its
/// first writer after a zero fill (which is then dropped).
struct LowerRowProjection : OpRewritePattern<linalg::ContractOp> {
  LowerRowProjection(MLIRContext *ctx, const GPUTiling &tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}
  const GPUTiling &tiling;

  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!isRowProjection(op, /*orBuffers=*/true))
      return rewriter.notifyMatchFailure(op, "not a row projection");
    Value out = op.getOutputs()[0];
    if (!isa<MemRefType>(out.getType())) {
      rewriter.replaceOp(
          op, projectOnDevice(rewriter, tiling, op, op.getInputs()[0],
                              op.getInputs()[1], {out},
                              {cast<ShapedType>(op.getResultTypes()[0])}));
      return success();
    }
    Operation *zeroing = zeroedFirst(out, op);
    projectOnDevice(rewriter, tiling, op, op.getInputs()[0], op.getInputs()[1],
                    {zeroing ? Value() : out},
                    {cast<ShapedType>(out.getType())}, {out});
    if (zeroing)
      rewriter.eraseOp(zeroing);
    rewriter.eraseOp(op);
    return success();
  }

  /// The zero fill of `buffer` (an allocation) in front of `op` when
  /// nothing else reads or writes the buffer before `op`: then `op` needs
  /// neither the fill nor to read the buffer.
  static Operation *zeroedFirst(Value buffer, linalg::ContractOp op) {
    if (!buffer.getDefiningOp<gpu::AllocOp>())
      return nullptr;
    Operation *zeroing = nullptr;
    for (Operation *user : buffer.getUsers()) {
      if (user == op.getOperation() || isa<memref::DimOp>(user))
        continue;
      if (user->getBlock() != op->getBlock())
        return nullptr;
      if (!user->isBeforeInBlock(op))
        continue;
      if (zeroing || !writesZeros(user, buffer))
        return nullptr;
      zeroing = user;
    }
    return zeroing;
  }

  /// `user` is a zero fill of `buffer` (linalg.fill or, once lowered,
  /// gpu.memset), or a copy into it of an allocation that nothing but a
  /// zero fill wrote before the copy.
  static bool writesZeros(Operation *user, Value buffer) {
    if (isZeroFill(user))
      return true;
    auto copy = dyn_cast<gpu::MemcpyOp>(user);
    if (!copy || copy.getDst() != buffer)
      return false;
    Value source = copy.getSrc();
    if (!source.getDefiningOp<gpu::AllocOp>())
      return false;
    bool zeroFilled = false;
    for (Operation *other : source.getUsers()) {
      if (other->getBlock() != copy->getBlock() ||
          !other->isBeforeInBlock(copy))
        continue;
      if (isZeroFill(other)) {
        zeroFilled = true;
        continue;
      }
      auto read = dyn_cast<gpu::MemcpyOp>(other);
      if (!isa<memref::DimOp>(other) && !(read && read.getSrc() == source))
        return false;
    }
    return zeroFilled;
  }

  static bool isZeroFill(Operation *op) {
    if (auto fill = dyn_cast<linalg::FillOp>(op))
      return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
    auto memset = dyn_cast<gpu::MemsetOp>(op);
    return memset && matchPattern(memset.getValue(), m_AnyZeroFloat());
  }
};

/// A weight gradient of a row projection in buffer form (linalg.contract as
/// moa-generate-gradients emits it): out[c, n] (+)= sum_rows x[rows, c]
/// g[rows, n]. x is transposed into a [c, rows] device buffer (a thread per
/// element) so that the tiled GEMM reads it as its row operand, with g as
/// the one-expert weight [rows, n].
struct LowerWeightGradient : OpRewritePattern<linalg::ContractOp> {
  LowerWeightGradient(MLIRContext *ctx, const GPUTiling &tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}
  const GPUTiling &tiling;

  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() ||
        op.getIndexingMapsArray() !=
            ArrayRef<AffineMap>(weightGradientMaps(op.getContext())))
      return rewriter.notifyMatchFailure(op, "not a weight gradient");
    Value x = op.getInputs()[0], g = op.getInputs()[1];
    Value out = op.getOutputs()[0];
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value rows = e.mul(tb.dim(x, 0), tb.dim(x, 1));
    Value c = tb.dim(x, 2);
    Value xRows = tb.collapse(x, {{0, 1}, {2}});
    Type element = cast<MemRefType>(x.getType()).getElementType();
    Value xT = deviceAlloc(e, element, {e.idx(1), c, rows});
    forEachElement(e, "moa_transpose", e.mul(rows, c),
                   [&](Emitter &y, Value i) {
                     Value r = y.div(i, c);
                     Value col = arith::RemUIOp::create(y.b, y.loc, i, c);
                     y.store(y.load(xRows, {r, col}), xT, {y.idx(0), col, r});
                   });
    auto expand = [&](Value buffer) {
      auto type = cast<MemRefType>(buffer.getType());
      return memref::ExpandShapeOp::create(
          rewriter, e.loc,
          MemRefType::get({1, type.getDimSize(0), type.getDimSize(1)},
                          type.getElementType()),
          buffer, ArrayRef<ReassociationIndices>{{0, 1}, {2}},
          ArrayRef<OpFoldResult>{
              rewriter.getIndexAttr(1),
              memref::getMixedSize(rewriter, e.loc, buffer, 0),
              memref::getMixedSize(rewriter, e.loc, buffer, 1)});
    };
    Value out3 = expand(out);
    Operation *zeroing = LowerRowProjection::zeroedFirst(out, op);
    projectOnDevice(rewriter, tiling, op, xT, tb.collapse(g, {{0, 1}, {2}}),
                    {zeroing ? Value() : out3},
                    {cast<ShapedType>(out3.getType())}, {out3});
    if (zeroing)
      rewriter.eraseOp(zeroing);
    rewriter.eraseOp(op);
    return success();
  }
};

/// moa.key_value_projection: one GEMM launch over both weights.
struct LowerKeyValueProjection : OpRewritePattern<KeyValueProjectionOp> {
  LowerKeyValueProjection(MLIRContext *ctx, const GPUTiling &tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}
  const GPUTiling &tiling;

  LogicalResult matchAndRewrite(KeyValueProjectionOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(
        op, projectOnDevice(rewriter, tiling, op, op.getInput(),
                            {op.getWKey(), op.getWValue()}, {Value(), Value()},
                            {op.getKey().getType(), op.getValue().getType()}));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// cf.assert
//===----------------------------------------------------------------------===//

/// A host cf.assert (a size check of moa-decompose, moa-generate-decode's
/// length check): one thread records the function's next assertion code
/// (kAssertionCodeBase and up) in the error word when the condition is
/// false; the launch carries [code, message] (`moa.assertion`) for
/// moa-gpu-host-boundary's report. A condition loaded from a buffer (a
/// reduction's result, on the device) is loaded by the kernel.
struct LowerAssert : OpRewritePattern<cf::AssertOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(cf::AssertOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e(rewriter, op.getLoc());
    Value err = errorWord(rewriter, op);
    MoADialect::AssertionAttrHelper assertion(rewriter.getContext());
    int64_t code = ::moa::runtime::kAssertionCodeBase;
    op->getParentOfType<func::FuncOp>().walk(
        [&](gpu::LaunchOp launch) { code += assertion.isAttrPresent(launch); });
    auto load = op.getArg().getDefiningOp<memref::LoadOp>();
    launch(e, "moa_assert", e.idx(1), e.idx(1), 1, {},
           [&](Emitter &kernel, const Kernel &, ValueRange) {
             Value ok = load ? kernel.load(load.getMemref(), load.getIndices())
                             : op.getArg();
             kernel.ifThen(kernel.notI(ok), [&](Emitter &x) {
               fail(x, err, static_cast<FailureCode>(code));
             });
           });
    assertion.setAttr(&*std::prev(rewriter.getInsertionPoint()),
                      rewriter.getArrayAttr(
                          {rewriter.getI64IntegerAttr(code), op.getMsgAttr()}));
    rewriter.eraseOp(op);
    if (load && load->use_empty())
      rewriter.eraseOp(load);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// The op that allocated `buffer` (through views), or null (an argument).
Operation *allocationOf(Value buffer) {
  while (Operation *def = buffer.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      return def;
    buffer = view.getViewSource();
  }
  return nullptr;
}

/// A host load or store of a buffer that lives on the device (a gpu.alloc,
/// or a view of one): it would fault on a real GPU (the emulator shares
/// memory, so only this check catches it).
bool readsDeviceOnHost(Operation *op) {
  Value buffer;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    buffer = load.getMemref();
  else if (auto store = dyn_cast<memref::StoreOp>(op))
    buffer = store.getMemref();
  return buffer && isa_and_nonnull<gpu::AllocOp>(allocationOf(buffer));
}

/// A host buffer (an allocation, alloca or global: not an entry argument,
/// which moa-gpu-host-boundary copies over) that kernel `launch` reads.
Operation *hostBufferIn(gpu::LaunchOp launch) {
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(launch.getBody(), captured);
  for (Value v : captured) {
    Operation *allocation =
        isa<MemRefType>(v.getType()) ? allocationOf(v) : nullptr;
    if (isa_and_nonnull<memref::AllocOp, memref::AllocaOp, memref::GetGlobalOp>(
            allocation))
      return allocation;
  }
  return nullptr;
}

struct MoALowerToGPUPass
    : public mlir::moa::impl::MoALowerToGPUBase<MoALowerToGPUPass> {
  using MoALowerToGPUBase::MoALowerToGPUBase;
  /// The options as the patterns read them (they hold a reference).
  GPUTiling tiling;

  GPUTiling tilingOptions() const {
    return {gemmRows,      gemmCols,     gemmDepth,
            attentionKeys, warpgroupMma, attentionSplitBelow};
  }

  /// Tile sizes the kernels cannot use are an error of the pipeline text.
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    if (failed(initializeOptionsExplained(*this, options, errorHandler)))
      return failure();
    std::string why = tilingOptions().invalid();
    return why.empty() ? success() : errorHandler(why);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));
    tiling = tilingOptions();
    if (std::string why = tiling.invalid(); !why.empty()) {
      emitError(module.getLoc(), "moa-lower-to-gpu: ") << why;
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(placeBuffersOnDevice(func)))
        return signalPassFailure();
    RewritePatternSet patterns(ctx);
    patterns.add<LowerRouting<RouteOp>, LowerRouting<ProjectRouteOp>,
                 LowerDispatch, LowerAssert>(ctx);
    patterns.add<LowerGroupedMatmul, LowerRowProjection, LowerWeightGradient,
                 LowerKeyValueProjection>(ctx, tiling);
    populateGPULinalgPatterns(patterns);
    populateGPUAttentionPatterns(patterns, tiling);
    populateGPUModelOpPatterns(patterns);
    populateGPULossPatterns(patterns);
    populateGPUTrainingPatterns(patterns);
    populateGPUBackwardPatterns(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();

    // What is left would run on the host over device buffers: say what.
    WalkResult leftOver = module->walk([](Operation *op) {
      if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
        if (Operation *host = hostBufferIn(launch)) {
          host->emitError("a kernel reads this host buffer: it has no device "
                          "placement (compile with --target=cpu)");
          return WalkResult::interrupt();
        }
      }
      // Kernels, and the routing record moa-gpu-host-boundary takes over.
      if (isa<RecordRoutingOp>(op) || op->getParentOfType<gpu::LaunchOp>())
        return WalkResult::advance();
      if (readsDeviceOnHost(op)) {
        op->emitError("the host would access a device buffer here: this "
                      "op has no GPU lowering yet (compile with --target=cpu)");
        return WalkResult::interrupt();
      }
      if (isa<MixtureAttentionOp>(op)) {
        op->emitError("run moa-decompose before moa-lower-to-gpu");
        return WalkResult::interrupt();
      }
      if (auto attention = dyn_cast<MultiQueryAttentionOp>(op)) {
        op->emitOpError(gpuAttentionUnsupported(attention));
        return WalkResult::interrupt();
      }
      if (auto decode = dyn_cast<CachedAttentionOp>(op)) {
        op->emitOpError(gpuDecodingUnsupported(decode));
        return WalkResult::interrupt();
      }
      if (auto write = dyn_cast<CacheWriteOp>(op); write && write.getResult()) {
        op->emitError("moa.cache_write is lowered to the GPU in buffer form "
                      "(writing the cache in place): bufferize first");
        return WalkResult::interrupt();
      }
      if (isa<DispatchOp, GroupedMatmulOp>(op)) {
        op->emitError("cannot lower to the GPU: index operands (indices, "
                      "permutation, offsets) must be i32");
        return WalkResult::interrupt();
      }
      if (isa<MoADialect>(op->getDialect()) ||
          (isa<linalg::LinalgOp>(op) && !isa<linalg::FillOp>(op))) {
        op->emitError("'")
            << op->getName()
            << "' has no GPU lowering yet (the GPU runs the moa ops of "
               "models, their gradients and AdamW, and linalg's "
               "elementwise ops, small reductions, row projections and "
               "their weight gradients): compile this module with "
               "--target=cpu";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftOver.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
