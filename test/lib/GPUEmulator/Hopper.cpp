//===- Hopper.cpp - TMA, mbarriers and wgmma on the CPU -------------------===//
//
// The sm_90 operations of moa-gpu-emulate, written from the PTX ISA (8.x):
// - tensor maps (cuTensorMapEncodeTiled's rules) and cp.async.bulk.tensor
//   tile loads into shared memory, with the 32/64/128-byte swizzles and
//   out-of-bounds fill, completing bytes on an mbarrier;
// - mbarriers: expected arrivals, transaction counts and phases;
// - wgmma.mma_async m64nNk16 on f16/bf16 operands in shared memory, read
//   through 64-bit matrix descriptors and the canonical (swizzled) layouts,
//   with the accumulator fragments of the ISA's "Register Fragments and
//   Shared Memory Matrix Layouts" (wgmma-64N16-D).
// Shared memory has GPU addresses here (the block's window, see
// moa_emu_shared_buffer): swizzles are functions of those addresses, as on
// the GPU, so a layout that works here works there. wgmma runs when issued,
// which is one legal order of its asynchronous execution.
//
//===----------------------------------------------------------------------===//

#include "runtime/Tensor.h"
#include "test/lib/GPUEmulator/EmulatorState.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>

using namespace moa::emu;

namespace {

/// A tiled tensor map, dimensions innermost first (as the driver has them).
struct TensorMap {
  const char *base;
  int rank;
  int64_t elementBytes, swizzleBytes; // 0: no swizzle
  bool nanFill;
  int64_t dims[5], strides[5], box[5]; // strides in bytes
};

/// The swizzle span of nvgpu's TensorMapSwizzleKind (as CUtensorMapSwizzle:
/// none, 32, 64, 128 bytes).
int64_t swizzleSpan(int64_t kind) {
  return kind == 1 ? 32 : kind == 2 ? 64 : kind == 3 ? 128 : 0;
}

/// The address a swizzled access of `window` goes to: the 16-byte chunk
/// index within each span-wide row XORed with the row's index in a group
/// of span / 16 rows (CUTLASS's Swizzle<log2(span / 16), 4, 3>).
int64_t swizzle(int64_t window, int64_t span) {
  if (span == 0)
    return window;
  const int64_t mask = span / 16 - 1;
  return window ^ (((window >> 7) & mask) << 4);
}

const SharedBuffer &bufferAt(int64_t window, int64_t bytes) {
  for (const SharedBuffer &b : current.shared)
    if (window >= b.window && window + bytes <= b.window + b.bytes)
      return b;
  fail("shared-memory address 0x%llx (%lld bytes) is outside the block's "
       "shared buffers",
       static_cast<long long>(window), static_cast<long long>(bytes));
}

char *hostOf(int64_t window, int64_t bytes) {
  const SharedBuffer &b = bufferAt(window, bytes);
  return b.host + (window - b.window);
}

int64_t windowOf(int64_t host) {
  for (const SharedBuffer &b : current.shared)
    if (host >= int64_t(b.host) && host < int64_t(b.host) + b.bytes)
      return b.window + (host - int64_t(b.host));
  fail("address 0x%llx is not in the block's shared memory",
       static_cast<long long>(host));
}

MBarrier &mbarrierAt(int64_t group, int64_t index) {
  auto &barriers = *reinterpret_cast<std::vector<MBarrier> *>(group);
  if (index < 0 || index >= int64_t(barriers.size()))
    fail("mbarrier %lld of a group of %zu", static_cast<long long>(index),
         barriers.size());
  return barriers[index];
}

/// The phase completes once nothing is pending; called under the lock.
void completeIfDone(MBarrier &m) {
  if (m.pending < 0)
    fail("mbarrier arrived at more often than initialised for");
  if (m.pending == 0 && m.transactions == 0) {
    ++m.phase;
    m.pending = m.expected;
    for (auto &copy : m.copies)
      m.landing.push_back(std::move(copy));
    m.copies.clear();
  }
}

float toFloat(const char *element, int32_t kind) {
  uint16_t bits;
  std::memcpy(&bits, element, 2);
  return kind == 0 ? moa::runtime::halfToFloat(bits)
                   : moa::runtime::bf16ToFloat(bits);
}

/// A decoded wgmma matrix descriptor (PTX ISA "Matrix Descriptor Format"):
/// start address, leading and stride byte offsets, swizzle span in bytes.
struct MatrixDescriptor {
  int64_t start, leading, stride, span;

  explicit MatrixDescriptor(uint64_t d)
      : start(int64_t(d & 0x3fff) << 4),
        leading(int64_t((d >> 16) & 0x3fff) << 4),
        stride(int64_t((d >> 32) & 0x3fff) << 4) {
    const int layout = int(d >> 62); // 0 none, 1 128B, 2 64B, 3 32B
    span = layout == 1 ? 128 : layout == 2 ? 64 : layout == 3 ? 32 : 0;
    if (span == 0)
      fail("wgmma descriptors without a swizzle are not emulated");
    if ((d >> 49) & 7)
      fail("wgmma descriptors with a base offset are not emulated");
  }

  /// The 16-bit element (mn, k) of an operand: mn indexes M (A) or N (B),
  /// k the instruction's 16. K-major: rows of mn `span` bytes apart in
  /// groups of 8 `stride` apart, k contiguous. MN-major: span / 2 mn
  /// contiguous, such column blocks `leading` apart, rows of k `span`
  /// bytes apart in groups of 8 `stride` apart.
  const char *element(int64_t mn, int64_t k, bool mnMajor) const {
    const int64_t address =
        mnMajor ? start + (mn % (span / 2)) * 2 + (mn / (span / 2)) * leading +
                      (k % 8) * span + (k / 8) * stride
                : start + (mn % 8) * span + (mn / 8) * stride + k * 2;
    return hostOf(swizzle(address, span), 2);
  }
};

/// The byte offset in the tensor of the element of the box at
/// `coordinates` (innermost first) whose index over the box's dimensions
/// from `first` on is `linear`, and whether the tensor has it.
std::pair<int64_t, bool> boxElement(const TensorMap &map,
                                    const int64_t *coordinates, int first,
                                    int64_t linear) {
  int64_t offset = 0;
  bool inside = true;
  for (int i = first; i < map.rank; ++i) {
    const int64_t at = coordinates[i] + linear % map.box[i];
    linear /= map.box[i];
    inside = inside && at >= 0 && at < map.dims[i];
    offset += at * map.strides[i];
  }
  return {offset, inside};
}

/// The TMA box at `coordinates` (innermost first) into shared memory at
/// `window`, elements past the tensor filled with zeros (or NaN).
void copyBox(const TensorMap &map, int64_t window, int64_t elements,
             std::array<int64_t, 5> coordinates) {
  for (int64_t e = 0; e < elements; ++e) {
    auto [offset, inside] = boxElement(map, coordinates.data(), 0, e);
    char *to = hostOf(swizzle(window + e * map.elementBytes, map.swizzleBytes),
                      map.elementBytes);
    if (inside)
      std::memcpy(to, map.base + offset, size_t(map.elementBytes));
    else // all ones: a NaN in every float format
      std::memset(to, map.nanFill ? 0xff : 0, size_t(map.elementBytes));
  }
}

} // namespace

extern "C" {

/// nvgpu.tma.create.descriptor: a tiled map of a row-major strided memref
/// (sizes, strides in elements and box outermost first, `rank` of 5 used),
/// checked as cuTensorMapEncodeTiled checks it.
int64_t moa_emu_tma_descriptor(int64_t rank, int64_t elementBytes,
                               int64_t swizzleKind, int64_t oobFill,
                               int64_t base, int64_t s0, int64_t s1, int64_t s2,
                               int64_t s3, int64_t s4, int64_t t0, int64_t t1,
                               int64_t t2, int64_t t3, int64_t t4, int64_t b0,
                               int64_t b1, int64_t b2, int64_t b3, int64_t b4) {
  const int64_t sizes[5] = {s0, s1, s2, s3, s4},
                strides[5] = {t0, t1, t2, t3, t4},
                box[5] = {b0, b1, b2, b3, b4};
  if (rank < 1 || rank > 5)
    fail("a tensor map of rank %lld", static_cast<long long>(rank));
  auto *map = new TensorMap{reinterpret_cast<const char *>(base),
                            int(rank),
                            elementBytes,
                            swizzleSpan(swizzleKind),
                            oobFill == 1,
                            {},
                            {},
                            {}};
  for (int64_t i = 0; i < rank; ++i) {
    map->dims[i] = sizes[rank - 1 - i];
    map->strides[i] = strides[rank - 1 - i] * elementBytes;
    map->box[i] = box[rank - 1 - i];
    if (map->box[i] < 1 || map->box[i] > 256)
      fail("tensor map box dimension %lld is %lld (1 to 256)",
           static_cast<long long>(i), static_cast<long long>(map->box[i]));
    if (i > 0 && map->strides[i] % 16)
      fail("tensor map stride of %lld bytes is not a multiple of 16",
           static_cast<long long>(map->strides[i]));
  }
  const int64_t inner = map->box[0] * elementBytes;
  if (map->strides[0] != elementBytes || base % 16 || inner % 16)
    fail("a tensor map needs a 16-byte aligned base, a contiguous innermost "
         "dimension and an innermost box of a multiple of 16 bytes");
  if (map->swizzleBytes && inner != map->swizzleBytes)
    fail("a %lld-byte swizzled tensor map with a %lld-byte innermost box "
         "(the emulator takes boxes one swizzle span wide)",
         static_cast<long long>(map->swizzleBytes),
         static_cast<long long>(inner));
  return reinterpret_cast<int64_t>(map);
}

/// nvgpu.mbarrier.create: the block's group for this op, made once.
int64_t moa_emu_mbarrier_create(int64_t site, int64_t count) {
  std::lock_guard<std::mutex> guard(current.lock);
  auto [it, made] = current.mbarriers.try_emplace(site);
  if (made)
    it->second.resize(size_t(count));
  return reinterpret_cast<int64_t>(&it->second);
}

void moa_emu_mbarrier_init(int64_t group, int64_t index, int64_t count) {
  std::lock_guard<std::mutex> guard(current.lock);
  if (count < 1)
    fail("mbarrier initialised for %lld arrivals",
         static_cast<long long>(count));
  mbarrierAt(group, index) = MBarrier{count, count, 0, 0};
}

/// mbarrier.arrive.expect_tx: expects `bytes` more, then arrives.
void moa_emu_mbarrier_arrive_expect_tx(int64_t group, int64_t index,
                                       int64_t bytes) {
  std::lock_guard<std::mutex> guard(current.lock);
  MBarrier &m = mbarrierAt(group, index);
  m.transactions += bytes;
  --m.pending;
  completeIfDone(m);
}

/// mbarrier.arrive: one of the phase's expected arrivals.
void moa_emu_mbarrier_arrive(int64_t group, int64_t index) {
  std::lock_guard<std::mutex> guard(current.lock);
  MBarrier &m = mbarrierAt(group, index);
  --m.pending;
  completeIfDone(m);
}

/// mbarrier.try_wait.parity in a loop: until the phase of that parity is
/// complete. A phase that cannot complete hangs a GPU; here it fails after
/// MOA_EMU_HANG_SECONDS (waitedTooLong).
void moa_emu_mbarrier_wait_parity(int64_t group, int64_t index,
                                  int64_t parity) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::lock_guard<std::mutex> guard(current.lock);
      MBarrier &m = mbarrierAt(group, index);
      if ((m.phase & 1) != unsigned(parity & 1)) {
        for (auto &copy : m.landing)
          copy();
        m.landing.clear();
        return;
      }
    }
    if (waitedTooLong(start))
      fail("thread %lld waits on an mbarrier phase that never completes "
           "(parity %lld)",
           static_cast<long long>(threadId), static_cast<long long>(parity));
    sched_yield();
  }
}

/// cp.async.bulk.tensor.Nd.shared.global.tile.mbarrier::complete_tx: the
/// box at (c0, ..., c4) into shared memory at `dst`, its bytes completed on
/// the mbarrier; the data lands when a thread sees that phase complete, so
/// a kernel that reads it without waiting reads stale data.
void moa_emu_tma_load(int64_t mapHandle, int64_t dst, int64_t group,
                      int64_t index, int64_t c0, int64_t c1, int64_t c2,
                      int64_t c3, int64_t c4) {
  const TensorMap &map = *reinterpret_cast<const TensorMap *>(mapHandle);
  const int64_t window = windowOf(dst);
  if (window % 128)
    fail("a TMA load into shared memory not 128-byte aligned");
  int64_t elements = 1;
  for (int i = 0; i < map.rank; ++i)
    elements *= map.box[i];
  bufferAt(window, elements * map.elementBytes);
  std::lock_guard<std::mutex> guard(current.lock);
  MBarrier &m = mbarrierAt(group, index);
  m.copies.push_back([&map, window, elements, c0, c1, c2, c3, c4] {
    copyBox(map, window, elements, {c0, c1, c2, c3, c4});
  });
  m.transactions -= elements * map.elementBytes;
  completeIfDone(m);
}

void moa_emu_profile_access(int32_t kind, int32_t site, int64_t address,
                            int64_t bytes);

void moa_emu_profile_tma_shared(int64_t bytes);

/// profile: a TMA load's reads of global memory, a request per row of its
/// box (the part inside the tensor), and its writes of the box to shared
/// memory.
void moa_emu_profile_tma_load(int32_t site, int64_t mapHandle, int64_t c0,
                              int64_t c1, int64_t c2, int64_t c3, int64_t c4) {
  const TensorMap &map = *reinterpret_cast<const TensorMap *>(mapHandle);
  const int64_t coordinates[5] = {c0, c1, c2, c3, c4};
  const int64_t first = std::max<int64_t>(c0, 0),
                end = std::min(c0 + map.box[0], map.dims[0]);
  int64_t rows = 1;
  for (int i = 1; i < map.rank; ++i)
    rows *= map.box[i];
  moa_emu_profile_tma_shared(rows * map.box[0] * map.elementBytes);
  for (int64_t r = 0; r < rows && first < end; ++r) {
    auto [offset, inside] = boxElement(map, coordinates, 1, r);
    if (inside)
      moa_emu_profile_access(/*GlobalLoad=*/0, site,
                             int64_t(map.base) + first * map.strides[0] +
                                 offset,
                             (end - first) * map.elementBytes);
  }
}

/// The address of shared memory at `host`: its place in the block's window
/// (memref.extract_aligned_pointer_as_index of a shared buffer).
int64_t moa_emu_shared_window(int64_t host) { return windowOf(host); }

/// nvgpu.warpgroup.generate.descriptor: the matrix at `host` in shared
/// memory as a wgmma descriptor: start address, leading and stride byte
/// offsets (all >> 4), swizzle (layout type 1: 128, 2: 64, 3: 32 bytes).
int64_t moa_emu_wgmma_descriptor(int64_t host, int64_t swizzleKind,
                                 int64_t leading, int64_t stride) {
  const int64_t span = swizzleSpan(swizzleKind);
  const uint64_t layout = span == 128 ? 1 : span == 64 ? 2 : span == 32 ? 3 : 0;
  const uint64_t start = uint64_t(windowOf(host)) >> 4;
  return int64_t((layout << 62) | ((uint64_t(stride) >> 4) & 0x3fff) << 32 |
                 ((uint64_t(leading) >> 4) & 0x3fff) << 16 | (start & 0x3fff));
}

/// wgmma.mma_async.sync.aligned.m64n{n}k16.f32.{f16,bf16} (kind 0, 1) with
/// both operands in shared memory: D += A B on the thread's n / 2
/// accumulators at `acc`. Thread t (lane l of warp w in its warpgroup)
/// holds d[i] = D(16 w + l / 4 + 8 ((i / 2) % 2), 8 (i / 4) + 2 (l % 4) +
/// i % 2).
void moa_emu_wgmma(int64_t descA, int64_t descB, int32_t kind,
                   int32_t transposeA, int32_t transposeB, int32_t n,
                   int64_t acc) {
  const int64_t rank = threadId % kWarpgroup;
  const int64_t first = threadId - rank;
  if (first + kWarpgroup > current.threads)
    fail("wgmma in a partial warpgroup");
  if (n < 8 || n > 256 || n % 8)
    fail("wgmma with n = %d", n);
  // The descriptors are the warpgroup's: every thread gives the same.
  Barrier &warpgroup = *current.warpgroups[threadId / kWarpgroup];
  current.exchange[threadId] =
      uint32_t(descA ^ (descA >> 32) ^ descB ^ (descB >> 32) ^ uint64_t(n));
  warpgroup.wait();
  for (int64_t t = first; t < first + kWarpgroup; ++t)
    if (current.exchange[t] != current.exchange[threadId])
      fail("wgmma operands differ across the warpgroup");
  warpgroup.wait();
  const MatrixDescriptor a(descA), b(descB);
  const int64_t lane = rank % kWarp, warp = rank / kWarp;
  auto *d = reinterpret_cast<float *>(acc);
  for (int i = 0; i < n / 2; ++i) {
    const int64_t row = 16 * warp + lane / 4 + 8 * ((i / 2) % 2);
    const int64_t col = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    float sum = d[i];
    for (int64_t k = 0; k < 16; ++k)
      sum += toFloat(a.element(row, k, transposeA), kind) *
             toFloat(b.element(col, k, transposeB), kind);
    d[i] = sum;
  }
}

} // extern "C"
