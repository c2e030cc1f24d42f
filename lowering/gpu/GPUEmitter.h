//===- GPUEmitter.h - Building gpu dialect kernels --------------*- C++ -*-===//
//
// Shared by the patterns of moa-lower-to-gpu: kernels are gpu.launch ops
// whose bodies are built with the loop Emitter (LoopEmitter.h) plus the
// few GPU primitives the moa kernels need: thread and block ids, barriers,
// warp shuffles and reductions, the device error word, asynchronous copies
// into shared memory (cp.async), and the tensor cores: the m16n8k16 fragment
// layout, ldmatrix and mma.sync, all in this one place.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_LOWERING_GPUEMITTER_H
#define MOA_LOWERING_GPUEMITTER_H

#include "dialect/MoAOps.h"
#include "lowering/common/OperandRows.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

#include <array>
#include <string>

namespace mlir::moa::gpu_kernels {

using loops::Emitter;
using loops::TensorBoundary;

/// Threads per warp on every NVIDIA GPU.
constexpr int64_t kWarp = 32;

/// Tile sizes of the kernels (moa-lower-to-gpu's options).
struct GPUTiling {
  /// GEMM: a block computes gemmRows x gemmCols of the output, one
  /// kWarpTile x kWarpTile square per warp, gemmDepth of k per stage.
  int64_t gemmRows = 64, gemmCols = 64, gemmDepth = 32;
  /// Tensor-core attention: keys per tile staged in shared memory.
  int64_t attentionKeys = 64;
  /// sm_90a: the tensor-core GEMMs of 64 x 64 tiles run on wgmma (one
  /// warpgroup per tile), the weight's tiles brought by TMA.
  bool warpgroupMma = false;
  /// sm_90a attention: below this many blocks of 128 query rows, a block
  /// takes 64 rows and its two consumers split the keys (0.8 of the 132
  /// SMs of an H100/H200 SXM, FlashAttention-3's rule for splitting keys).
  int64_t attentionSplitBelow = 106;

  static constexpr int64_t kWarpTile = 32;
  int64_t gemmThreads() const {
    return (gemmRows / kWarpTile) * (gemmCols / kWarpTile) * kWarp;
  }
  /// Why the kernels cannot use these sizes ("" if they can).
  std::string invalid() const;
};

/// Static shared memory a block may use.
constexpr int64_t kMaxSharedBytes = 48 * 1024;

/// The ids of a kernel body.
struct Kernel {
  Value tid, bidX, bidY;
  /// Lane in the warp, and warp in the block.
  Value lane, warp;
};

/// Emits `gpu.launch` of kernel `name` (outlined into gpu.module
/// @moa_kernels) with a grid of (gridX, gridY) blocks of `threads` threads
/// and the given shared-memory buffers (workgroup attributions), plus
/// `dynamicSharedBytes` of dynamic shared memory (hopper::sharedRegion);
/// body(e, ids, shared) builds the kernel.
void launch(Emitter &e, StringRef name, Value gridX, Value gridY,
            int64_t threads, ArrayRef<MemRefType> shared,
            function_ref<void(Emitter &, const Kernel &, ValueRange)> body,
            int64_t dynamicSharedBytes = 0);

/// Launches a thread per i in [0, count) (256 per block) running
/// body(e, i).
void forEachElement(Emitter &e, StringRef name, Value count,
                    function_ref<void(Emitter &, Value)> body);

/// Threads of a reducing block (reduce).
constexpr int64_t kReduceThreads = 256;
using ReduceTerms = function_ref<SmallVector<Value>(Emitter &, Value, Value)>;
using ReduceFinish = function_ref<void(Emitter &, Value, ValueRange)>;
/// Launches `blocks` blocks of kReduceThreads threads: block b sums, in
/// f64, each of the `numTerms` values terms(x, b, i) over i in [0, count)
/// (each thread a strided share, then a tree through shared memory: the
/// same order on every run, no atomics), and its first thread runs
/// finish(x, b, totals).
void reduce(Emitter &e, StringRef name, Value blocks, Value count,
            int64_t numTerms, ReduceTerms terms, ReduceFinish finish);
/// The `numTerms` sums over i in [0, count) of terms(x, i), f64, in a new
/// [numTerms] device buffer (one block of reduce).
Value deviceTotals(Emitter &e, StringRef name, Value count, int64_t numTerms,
                   function_ref<SmallVector<Value>(Emitter &, Value)> terms);
/// Records `code` unless every i32 of `indices` [count] is in [lo, hi): a
/// thread per index.
void checkRange(Emitter &e, Value err, Value indices, Value count, Value lo,
                Value hi, ::moa::runtime::FailureCode code);
/// A new 0-d f32 device buffer.
Value scalarBuffer(Emitter &e);

/// Element-wise f32 -> `to`'s element type copy of `count` values of
/// `from` (results accumulated in f32), a thread per element.
void emitNarrow(Emitter &e, Value from, Value to, Value count);

/// A static shared-memory buffer type.
MemRefType sharedBuffer(ArrayRef<int64_t> shape, Type elementType);

/// Every thread of the block reaches this point before any goes on.
void barrier(Emitter &e);

/// The value of lane (lane ^ mask) (butterfly shuffle over the warp).
Value shuffleXor(Emitter &e, Value v, int32_t mask);
/// The value of lane `source` (an i32).
Value shuffleIndex(Emitter &e, Value v, Value source);

/// Sum and maximum of an f32 over the warp, in every lane.
Value warpSum(Emitter &e, Value v);
Value warpMax(Emitter &e, Value v);
/// The same over the 4 lanes of a quad (lanes 4g to 4g+3: the threads that
/// hold one row of an mma.sync accumulator).
Value quadSum(Emitter &e, Value v);
Value quadMax(Emitter &e, Value v);
/// (value, index) of the largest value over the warp, in every lane; ties
/// go to the lower index, and index -1 (nothing) loses to everything.
std::pair<Value, Value> warpArgMax(Emitter &e, Value value, Value index);

/// Records `code` in the device error word (the largest code wins); the
/// entry point reports it to the runtime when it returns.
void fail(Emitter &e, Value errorWord, ::moa::runtime::FailureCode code);

/// An f16/bf16/f32 value as f32, and back.
Value toF32(Emitter &e, Value v);
Value fromF32(Emitter &e, Value v, Type elementType);
/// Two 16-bit floats (`low` first) as one operand register of mma.sync:
/// vector<2xf16> for f16 (nvgpu.mma.sync), an i32 for bf16 (nvvm.mma.sync).
Value pack16(Emitter &e, Value low, Value high);
/// d = a * b + c on the tensor cores, one m16n8k16 tile (mma.sync, f32
/// accumulation): a is 4 packed registers, b 2, c and the result 4 f32.
/// The fragment layout (PTX ISA, mma.m16n8k16 .row.col): lane l = 4 g + t
/// holds A(g + 8 (r % 2), 2 t + 8 (r / 2) + {0, 1}) in a[r],
/// B(2 t + 8 r + {0, 1}, g) in b[r] and C(g + 8 (i / 2), 2 t + i % 2) in c[i].
SmallVector<Value> mmaSync16816(Emitter &e, Type elementType, ValueRange a,
                                ValueRange b, ValueRange c);

/// Shared-memory tiles of 16-bit elements read by ldmatrix: rows padded to
/// a multiple of 8 elements (16 bytes) and by 8 more, so that the 8 rows of
/// one 8x8 matrix fall in different banks.
MemRefType ldmatrixTile(int64_t rows, int64_t cols, Type elementType);
/// A's 4 registers for rows [row, row + 16) and k [col, col + 16) of a
/// [m][k] tile: one ldmatrix.x4.
SmallVector<Value> loadFragmentA(Emitter &e, Value tile, Value lane, Value row,
                                 Value col);
/// B's registers (2 per n8 tile) for k [k0, k0 + 16) and the two n8 tiles
/// at n0 and n0 + 8: one ldmatrix.x4 of a [k][n] tile (`kMajor`,
/// transposed on the way) or of a [n][k] tile.
std::array<SmallVector<Value>, 2> loadFragmentsB(Emitter &e, Value tile,
                                                 Value lane, Value k0, Value n0,
                                                 bool kMajor);

/// dst[dstIndices..+7] (along the last dimension) = the first `count` (0 to
/// 8) 16-bit elements from src[srcIndices] on, zeros after: one cp.async
/// of 16 bytes when `aligned` (the source is 16-byte aligned; null: always),
/// element by element otherwise. src must be addressable even when count
/// is 0. Complete after a wait that covers its group (asyncCommitAndWait).
void copy8(Emitter &e, Value dst, ValueRange dstIndices, Value src,
           ValueRange srcIndices, Value count, Value aligned);
/// Commits this thread's asynchronous copies since its last commit as one
/// group, then waits until at most `pending` of its latest groups are still
/// in flight (cp.async.commit_group; cp.async.wait_group pending). A commit
/// is never emitted alone: nvgpu's group op has no side effects, and one
/// whose token nothing waits on is erased as dead.
void asyncCommitAndWait(Emitter &e, int32_t pending);
/// The same, waiting for all its groups (cp.async.wait_group 0).
inline void asyncWaitAll(Emitter &e) { asyncCommitAndWait(e, 0); }

/// sm_90a: wgmma on 64 x 64 x 64 stages of 16-bit operands in shared
/// memory, 128-byte rows in the 128-byte swizzle (16-byte chunk c of row r
/// at chunk c ^ (r % 8), the pattern repeating every 8 rows, so tiles start
/// 1024-byte aligned), the weight's stage brought by TMA.
namespace hopper {
constexpr int64_t kTile = 64;
/// Bytes of one 64 x 64 16-bit tile.
constexpr int64_t kTileBytes = kTile * kTile * 2;
/// The map type of a [D0][D1][D2] tensor read in 1 x 64 x 64 boxes (a
/// weight's [E][K][N], attention's [B][keys][h]), zeros past its bounds.
nvgpu::TensorMapDescriptorType tileMapType(Type element);
/// Host code: the tileMapType map of the rank-3 `tensor` (its innermost
/// dimension contiguous, its other strides and base 16-byte aligned) where
/// `usable` holds and it is not empty; else a map no load may read.
Value createTileMap(Emitter &e, Value tensor, Value usable);
/// A `shape` view of `element` at byte `offset` of the i8 shared `region`.
Value sharedView(Emitter &e, Value region, Value offset,
                 ArrayRef<int64_t> shape, Type element);
/// The column where chunk `col` (a multiple of 8) of tile row `row` lies.
Value swizzledColumn(Emitter &e, Value row, Value col);
/// acc += a b on a K-major [64][k] view `a` and a [k][n] view `b`, N-major
/// (`bKMajor` false: [k][n] in memory) or K-major ([n][k] in memory), both
/// in the swizzle of `map`'s type, k a multiple of 16; then waits until at
/// most `pending` wgmma groups are in flight.
Value warpgroupMma(Emitter &e, Value a, Value b, Value map, Value acc,
                   bool bKMajor = false, int64_t pending = 0);
/// The accumulator type of a 64 x n f32 tile.
Type accumulatorType(MLIRContext *ctx, int64_t n = kTile);
/// A 64 x n accumulator's n / 2 f32 values in this thread, in wgmma's
/// fragment order: d[4 j + 2 h + e] is D(16 warp + lane / 4 + 8 h,
/// 8 j + 2 (lane % 4) + e), the order of n / 8 mma.sync m16n8 fragments.
SmallVector<Value> fragment(Emitter &e, Value acc);
/// The accumulator holding `values` (fragment's order).
Value accumulator(Emitter &e, ArrayRef<Value> values);
/// A map of `element` in the 128-byte swizzle for the descriptors of
/// operands in [64][64] tiles (generate.descriptor reads only its type:
/// an N-major B wider than 64 continues in the next tile).
Value layoutOnlyMap(Emitter &e, Type element);
/// The dynamic shared memory a launch asks for a sharedRegion of `bytes`:
/// the region and the room to align it.
int64_t dynamicSharedBytes(int64_t bytes);
/// The kernel's dynamic shared memory as an i8 region of `bytes` bytes,
/// 1024-byte aligned for the swizzle (gpu.launch cannot align attributions)
/// and past the kernel's static shared variables (its mbarriers): the
/// region upstream's lowering names is one of those, not an extern array,
/// so ptxas may place it before them. Its launch asks
/// dynamicSharedBytes(bytes).
Value sharedRegion(Emitter &e, int64_t bytes);
/// A group of `count` mbarriers, thread 0 initialising each for `arrivals`
/// arrivals (a barrier must follow before any thread uses them).
Value createMBarriers(Emitter &e, const Kernel &ids, int64_t count,
                      Value arrivals);
inline Value createMBarriers(Emitter &e, const Kernel &ids, int64_t count,
                             int64_t arrivals) {
  return createMBarriers(e, ids, count, e.idx(arrivals));
}
/// Waits for the `phase`th completion (from 0) of mbarrier `index` of
/// `group` (try_wait on the phase's parity, in a loop).
void waitPhase(Emitter &e, Value group, Value index, Value phase);
/// Makes the generic proxy's shared-memory writes (stores, cp.async)
/// visible to wgmma, which reads through the async proxy.
void fenceProxyAsync(Emitter &e);
} // namespace hopper

/// The sizes of `buffer`'s dynamic dimensions, for an allocation of its type.
SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc, Value buffer);
/// A device buffer (gpu.alloc) of `elementType` with fully dynamic sizes.
Value deviceAlloc(Emitter &e, Type elementType, ValueRange sizes);
/// Every element of a device buffer set to `value` (gpu.memset).
void deviceFill(Emitter &e, Value buffer, Value value);
/// The zero of `type`.
Value zeroOf(Emitter &e, Type type);
/// The function's device error word (memref<1xi32>, zeroed at entry),
/// created at the start of the function that holds `op` on first use.
Value errorWord(PatternRewriter &rewriter, Operation *op);
/// max(v, 1): grids are never empty.
Value atLeastOne(Emitter &e, Value v);
/// cond ? memref[indices] : `otherwise`, never loading when !cond.
Value loadIf(Emitter &e, Value cond, Value memref, ValueRange indices,
             Value otherwise);
/// v == 0 for an index.
Value isZero(Emitter &e, Value v);
/// Runs `body` when the host-computed `ok` holds; otherwise the first thread
/// records a shape mismatch.
void whenShapesAgree(Emitter &kernel, const Kernel &ids, Value ok, Value err,
                     function_ref<void(Emitter &)> body);

/// Makes bufferization's buffers in `func` device buffers (GPUBuffers.cpp):
/// memref.alloc becomes gpu.alloc, memref.copy gpu.memcpy (or linalg.copy
/// for strided views), and globals are read from device copies (constant
/// scalars inlined), so kernels write their op's output buffer in place.
LogicalResult placeBuffersOnDevice(func::FuncOp func);

/// Adds the patterns of moa.multi_query_attention, moa.cache_write and
/// moa.cached_attention (GPUAttention.cpp).
void populateGPUAttentionPatterns(RewritePatternSet &patterns,
                                  const GPUTiling &tiling);
/// Adds the patterns of moa.embedding and moa.layer_norm (GPUModelOps.cpp).
void populateGPUModelOpPatterns(RewritePatternSet &patterns);
/// Adds the patterns of linalg ops in buffer form other than row projections
/// (GPULinalg.cpp).
void populateGPULinalgPatterns(RewritePatternSet &patterns);
/// Adds the patterns of moa.route_grad, moa.grouped_matmul_grad and
/// moa.multi_query_attention_grad (GPUBackward.cpp).
void populateGPUBackwardPatterns(RewritePatternSet &patterns);
/// Adds the patterns of moa.layer_norm_grad, moa.embedding_grad,
/// moa.global_norm and moa.adamw (GPUTraining.cpp).
void populateGPUTrainingPatterns(RewritePatternSet &patterns);
/// Adds the patterns of moa.cross_entropy, the router's auxiliary losses and
/// moa.routing_statistics (GPULosses.cpp).
void populateGPULossPatterns(RewritePatternSet &patterns);

/// Why the attention kernels cannot run `op` ("" if they can).
std::string gpuAttentionUnsupported(MultiQueryAttentionOp op);
/// Why the decoding kernels cannot run `op` ("" if they can).
std::string gpuDecodingUnsupported(CachedAttentionOp op);

} // namespace mlir::moa::gpu_kernels

#endif // MOA_LOWERING_GPUEMITTER_H
