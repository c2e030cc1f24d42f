//===- GpuEmulator.cpp - Running outlined GPU kernels on the CPU ----------===//
//
// moa-gpu-emulate turns each kernel into a host function and each launch into
// a loop over blocks; the threads of a block are the iterations of one OpenMP
// parallel loop (one OS thread each), so barriers, warp shuffles and the
// warp-collective mma.sync and ldmatrix are real synchronisation between
// them. This file is that synchronisation, the tensor-core arithmetic and
// ldmatrix written from the PTX ISA's fragment layouts, and cp.async as
// copies queued per thread until a cp.async.wait_group covers their group. It
// exists to test the kernels' logic against the reference on machines without a
// GPU; it is slow and runs one launch at a time.
//
//===----------------------------------------------------------------------===//

#include "runtime/Tensor.h"
#include "runtime/cuda/AllReduceABI.h"
#include "test/lib/GPUEmulator/EmulatorState.h"

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

namespace moa::emu {

Block current;
thread_local int64_t threadId = 0;

void Block::start(int n) {
  threads = n;
  block.reset(n);
  auto barriers = [&](std::vector<std::unique_ptr<Barrier>> &group, int width) {
    group.clear();
    for (int first = 0; first < n; first += width) {
      group.push_back(std::make_unique<Barrier>());
      group.back()->reset(std::min(width, n - first));
    }
  };
  barriers(warps, kWarp);
  barriers(warpgroups, kWarpgroup);
  exchange.assign(n, 0);
  mma.assign(n, MmaOperands{});
  rows.assign(n, MatrixRow{});
  shared.clear();
  sharedEnd = 0;
  mbarriers.clear();
  named.clear();
}

bool waitedTooLong(std::chrono::steady_clock::time_point start) {
  static const int64_t patience = [] {
    const char *seconds = std::getenv("MOA_EMU_HANG_SECONDS");
    return seconds && std::atoll(seconds) > 0 ? std::atoll(seconds) : 120;
  }();
  return std::chrono::steady_clock::now() - start >
         std::chrono::seconds(patience);
}

void Barrier::hang() const {
  fail("thread %lld waits at a barrier that never completes (%d of its %d "
       "threads arrived)",
       static_cast<long long>(threadId), arrived.load(), expected);
}

void fail(const char *format, ...) {
  // One report: the other failing threads wait here for the abort.
  static std::mutex reporting;
  reporting.lock();
  std::fputs("moa GPU emulator: ", stderr);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::abort();
}

} // namespace moa::emu

using namespace moa::emu;

namespace {

/// One cp.async: `bytes` to `dst`, the first `read` of them from `src`, the
/// rest zeros.
struct AsyncCopy {
  char *dst;
  const char *src;
  int64_t bytes, read;
  void run() const {
    std::memcpy(dst, src, size_t(read));
    std::memset(dst + read, 0, size_t(bytes - read));
  }
};

thread_local float mmaResult[4];
thread_local uint32_t ldmatrixResult[4];
/// This thread's copies not yet in a group, and its committed groups.
thread_local std::vector<AsyncCopy> uncommitted;
thread_local std::deque<std::vector<AsyncCopy>> pendingGroups;

float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t floatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}
/// Element `half` (0: low, 1: high) of a packed register.
float unpack(uint32_t reg, int half, int kind) {
  const uint16_t v = half ? uint16_t(reg >> 16) : uint16_t(reg & 0xffff);
  return kind == 0 ? moa::runtime::halfToFloat(v)
                   : moa::runtime::bf16ToFloat(v);
}

Barrier &warpBarrier() { return *current.warps[threadId / kWarp]; }

uint32_t shuffle(uint32_t value, int32_t offset, int32_t width, int32_t mode) {
  const int lane = int(threadId % kWarp);
  const int base = int(threadId - lane);
  // shfl.sync within segments of `width` lanes (a power of two): a source
  // outside the lane's segment gives the lane its own value.
  const int first = width > 0 && width <= kWarp ? lane & ~(width - 1) : 0;
  const int end = width > 0 && width <= kWarp ? first + width : kWarp;
  int source = lane;
  switch (mode) { // gpu::ShuffleMode: 0 xor, 1 down, 2 up, 3 idx
  case 0:
    source = lane ^ offset;
    break;
  case 1:
    source = lane + offset;
    break;
  case 2:
    source = lane - offset;
    break;
  default:
    source = first + (width > 0 ? offset % width : offset);
  }
  if (source < first || source >= end || base + source >= current.threads)
    source = lane;
  current.exchange[threadId] = value;
  warpBarrier().wait();
  const uint32_t result = current.exchange[base + source];
  warpBarrier().wait();
  return result;
}

} // namespace

extern "C" {
// LLVM's OpenMP runtime, which every compiled module links.
int omp_get_thread_num();
int omp_get_num_threads();

void moa_emu_block_begin(int64_t threads) {
  if (threads <= 0 || threads > 1024) {
    std::fprintf(stderr, "moa GPU emulator: %lld threads per block\n",
                 static_cast<long long>(threads));
    std::abort();
  }
  current.start(int(threads));
}

int64_t moa_emu_thread_index() {
  // Fewer OpenMP threads than GPU threads would wait forever at a barrier.
  if (omp_get_num_threads() != current.threads) {
    std::fprintf(stderr,
                 "moa GPU emulator: %d OpenMP threads for a block of %d (is "
                 "OMP_THREAD_LIMIT set?)\n",
                 omp_get_num_threads(), current.threads);
    std::abort();
  }
  return omp_get_thread_num();
}

/// A shared buffer of the block about to run, placed in the shared window
/// as the GPU places static shared memory: in order, each aligned as
/// declared (16 bytes at least).
void moa_emu_shared_buffer(int64_t host, int64_t bytes, int64_t alignment) {
  const int64_t align = std::max<int64_t>(alignment, 16);
  const int64_t window = (current.sharedEnd + align - 1) / align * align;
  current.shared.push_back({reinterpret_cast<char *>(host), bytes, window});
  current.sharedEnd = window + bytes;
}

void moa_emu_thread_begin(int64_t tid) { threadId = tid; }

/// A thread may not end with copies nobody waited for: their data would
/// arrive after the kernel read its shared memory.
void moa_emu_thread_end() {
  if (!uncommitted.empty() || !pendingGroups.empty()) {
    std::fprintf(stderr,
                 "moa GPU emulator: thread %lld ends with cp.async "
                 "copies never waited for\n",
                 static_cast<long long>(threadId));
    std::abort();
  }
}

void moa_emu_barrier() { current.block.wait(); }

/// bar.sync id, count (PTX ISA "bar, barrier"): ids 0 to 15, `count` a
/// multiple of the warp size; every use of an id in a block must name the
/// same count (the emulator's barrier is made for the first one's).
void moa_emu_named_barrier(int32_t id, int32_t count) {
  if (id < 0 || id > 15 || count < kWarp || count % kWarp ||
      count > current.threads)
    fail("bar.sync %d, %d: ids are 0 to 15 and counts multiples of %d up to "
         "the block's %d threads",
         id, count, kWarp, current.threads);
  Barrier *barrier;
  {
    std::lock_guard<std::mutex> guard(current.lock);
    auto [it, made] = current.named.try_emplace(id);
    if (made) {
      it->second.first = count;
      it->second.second = std::make_unique<Barrier>();
      it->second.second->reset(count);
    } else if (it->second.first != count) {
      fail("bar.sync %d with %d threads, and with %d before", id, count,
           it->second.first);
    }
    barrier = it->second.second.get();
  }
  barrier->wait();
}

float moa_emu_shuffle_f32(float value, int32_t offset, int32_t width,
                          int32_t mode) {
  return bitsToFloat(shuffle(floatToBits(value), offset, width, mode));
}

int32_t moa_emu_shuffle_i32(int32_t value, int32_t offset, int32_t width,
                            int32_t mode) {
  return int32_t(shuffle(uint32_t(value), offset, width, mode));
}

/// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}: kind 0 is f16, 1 bf16.
/// Lane l = 4 g + t holds A(g + 8 (r % 2), 2 t + 8 (r / 2) + {0, 1}) in a[r],
/// B(2 t + 8 r + {0, 1}, g) in b[r] and C(g + 8 (i / 2), 2 t + i % 2) in c[i].
void moa_emu_mma(int32_t kind, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                 int32_t b0, int32_t b1, float c0, float c1, float c2,
                 float c3) {
  const int lane = int(threadId % kWarp);
  const int base = int(threadId - lane);
  if (base + kWarp > current.threads) { // mma.sync needs a whole warp
    std::fprintf(stderr, "moa GPU emulator: mma.sync in a partial warp\n");
    std::abort();
  }
  current.mma[threadId] = {
      {uint32_t(a0), uint32_t(a1), uint32_t(a2), uint32_t(a3)},
      {uint32_t(b0), uint32_t(b1)},
      {c0, c1, c2, c3}};
  warpBarrier().wait();
  float a[16][16], b[16][8];
  for (int l = 0; l < kWarp; ++l) {
    const MmaOperands &op = current.mma[base + l];
    const int g = l / 4, t = l % 4;
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h)
        a[g + 8 * (r % 2)][2 * t + 8 * (r / 2) + h] = unpack(op.a[r], h, kind);
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < 2; ++h)
        b[2 * t + 8 * r + h][g] = unpack(op.b[r], h, kind);
  }
  const int g = lane / 4, t = lane % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
    float sum = current.mma[threadId].c[i];
    for (int k = 0; k < 16; ++k)
      sum += a[row][k] * b[k][col];
    mmaResult[i] = sum;
  }
  warpBarrier().wait();
}

float moa_emu_mma_result(int32_t i) { return mmaResult[i & 3]; }

/// ldmatrix.sync.aligned.m8n8.x{tiles}{.trans}.b16: lane 8 i + r gives row r
/// of matrix i (words w0..w3, elements 2 j and 2 j + 1 in word j). Lane
/// l = 4 g + t receives in register i the elements (g, 2 t), (g, 2 t + 1)
/// of matrix i, or with .trans those of its transpose: (2 t, g), (2 t + 1, g).
void moa_emu_ldmatrix(int32_t tiles, int32_t transpose, int32_t w0, int32_t w1,
                      int32_t w2, int32_t w3) {
  const int lane = int(threadId % kWarp);
  const int base = int(threadId - lane);
  if (base + kWarp > current.threads || tiles < 1 || tiles > 4) {
    std::fprintf(stderr, "moa GPU emulator: ldmatrix in a partial warp or "
                         "of a bad number of matrices\n");
    std::abort();
  }
  current.rows[threadId] = {
      {uint32_t(w0), uint32_t(w1), uint32_t(w2), uint32_t(w3)}};
  warpBarrier().wait();
  auto element = [&](int matrix, int row, int col) -> uint32_t {
    const uint32_t word = current.rows[base + 8 * matrix + row].words[col / 2];
    return col % 2 ? word >> 16 : word & 0xffff;
  };
  const int g = lane / 4, t = lane % 4;
  for (int i = 0; i < tiles; ++i)
    ldmatrixResult[i] =
        transpose ? element(i, 2 * t, g) | element(i, 2 * t + 1, g) << 16
                  : element(i, g, 2 * t) | element(i, g, 2 * t + 1) << 16;
  warpBarrier().wait();
}

int32_t moa_emu_ldmatrix_result(int32_t i) {
  return int32_t(ldmatrixResult[i & 3]);
}

/// cp.async.cg.shared.global: queued until a wait covers its group.
void moa_emu_async_copy(int64_t dst, int64_t src, int64_t bytes, int64_t read) {
  if (read < 0 || read > bytes) {
    std::fprintf(stderr,
                 "moa GPU emulator: cp.async reads %lld of %lld "
                 "bytes\n",
                 static_cast<long long>(read), static_cast<long long>(bytes));
    std::abort();
  }
  uncommitted.push_back({reinterpret_cast<char *>(dst),
                         reinterpret_cast<const char *>(src), bytes, read});
}

/// cp.async.commit_group: the thread's uncommitted copies become a group.
void moa_emu_async_commit() {
  pendingGroups.push_back(std::move(uncommitted));
  uncommitted.clear();
}

/// cp.async.wait_group n: all but the n most recent groups are done.
void moa_emu_async_wait(int32_t n) {
  while (pendingGroups.size() > size_t(std::max(n, 0))) {
    for (const AsyncCopy &copy : pendingGroups.front())
      copy.run();
    pendingGroups.pop_front();
  }
}

/// The emulator's device memory is host memory: MPI sums it.
void _mlir_ciface_moa_gpu_all_reduce_sum_f32(moa::runtime::FloatView *send,
                                             moa::runtime::FloatView *recv) {
  moa::runtime::sumOverHostMemory(send, recv);
}

} // extern "C"
