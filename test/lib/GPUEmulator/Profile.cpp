//===- Profile.cpp - What each emulated launch would cost a GPU -----------===//
//
// moa-gpu-emulate{profile=1} reports every memory access of a kernel with
// its address and width, every mma.sync and every barrier. The emulator
// runs a block's threads as OS threads, each at its own pace, so a warp's
// instruction is rebuilt here: the n-th execution of an access site by the
// lanes of one warp is one warp-wide request (exact for code that does not
// diverge, as the GEMM and attention main loops do not). Per request:
// - global memory: the bytes asked for, the distinct ones among them, and
//   the 32-byte sectors they touch (a coalesced warp-wide f32 access is 4
//   sectors, one lane per sector 32); per launch also the distinct sectors
//   of all its requests, the least it can move from DRAM;
// - shared memory: the wavefronts it takes: lanes are served in phases of
//   128 bytes (all 32 lanes for accesses of up to 4 bytes, 16 for 8 bytes,
//   8 for 16), and a phase takes as many wavefronts as the most distinct
//   4-byte words that fall in one of the 32 banks (the same word is a
//   broadcast); a phase above one wavefront is a bank conflict.
// - wgmma: its flops and the bytes of A and B it reads from shared memory,
//   and TMA the bytes its boxes write there (traffic on the same banks,
//   outside the per-warp request model, counted apart).
// And every thread's instructions by class (float, integer, special
// function, conversion, shuffle, branch), as moa-gpu-emulate counts them on
// the GPU dialect, summed over the launch's threads.
// One line per launch goes to the file MOA_EMU_PROFILE names (appended),
// else to stderr; with MOA_EMU_PROFILE_SITES set, one more per access site
// (the op, the loop it runs in, and that site's requests); with
// MOA_EMU_PROFILE_BLOCKS set, one more with each block's share of the work
// an SM does (bench/gpu/profile_model.py spreads the blocks over the SMs).
//
//===----------------------------------------------------------------------===//

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace {

enum Kind { GlobalLoad, GlobalStore, SharedLoad, SharedStore, kKinds };

/// Instruction classes, in moa-gpu-emulate's order.
constexpr const char *kClassNames[] = {"float",      "integer", "special",
                                       "conversion", "shuffle", "branch"};
constexpr int kClasses = std::size(kClassNames);
using Instructions = std::array<int64_t, kClasses>;

struct Access {
  int32_t site;
  uint32_t seq; // the thread's n-th execution of `site`
  int32_t kind;
  int64_t address, bytes;
};

struct ThreadLog {
  std::vector<Access> accesses;
  std::unordered_map<int32_t, uint32_t> executions;
  int64_t tensorFlops = 0, tensorSharedBytes = 0, tmaSharedBytes = 0;
  int64_t barriers = 0;
  Instructions instructions{};
};

struct Counts {
  std::array<int64_t, kKinds> requests{}, bytes{};
  int64_t globalSectors[2] = {}, distinctBytes[2] = {}; // loads, stores
  std::set<int64_t> launchSectors; // every global sector the launch touched
  int64_t wavefronts[2] = {}, idealWavefronts[2] = {};
  int64_t tensorFlops = 0, tensorSharedBytes = 0, tmaSharedBytes = 0;
  int64_t barriers = 0;
  Instructions instructions{};
};

/// One access site's requests (MOA_EMU_PROFILE_SITES): global ones' sectors
/// and distinct bytes, or shared ones' wavefronts.
struct Site {
  std::string name;
  int32_t kind = GlobalLoad;
  int64_t requests = 0, bytes = 0, distinct = 0, sectors = 0;
  int64_t wavefronts = 0, idealWavefronts = 0;
};

/// What one block adds to the work of the SM it runs on: tensor-core flops,
/// warp requests (global and shared), shared wavefronts, bytes wgmma reads
/// and TMA writes in shared memory, and thread instructions by class.
using BlockWork = std::array<int64_t, 4 + kClasses>;

BlockWork workOf(const Counts &c) {
  BlockWork w = {c.tensorFlops,
                 c.requests[GlobalLoad] + c.requests[GlobalStore] +
                     c.requests[SharedLoad] + c.requests[SharedStore],
                 c.wavefronts[0] + c.wavefronts[1],
                 c.tensorSharedBytes + c.tmaSharedBytes};
  std::copy(c.instructions.begin(), c.instructions.end(), w.begin() + 4);
  return w;
}

struct Launch {
  std::string kernel;
  /// Each block's work, in the order the emulator runs them (y fastest).
  std::vector<BlockWork> blocks;
  std::map<int32_t, Site> sites;
  int64_t gridX = 0, gridY = 0, threads = 0;
  int64_t dynamicShared = 0;   // bytes of dynamic shared memory a block
  std::vector<ThreadLog> logs; // by thread of the running block
  Counts counts;
};

Launch launch;

/// Adds a warp's global request of `kind` to `c`: its sectors (also to the
/// launch's) and its distinct bytes; returns both.
std::pair<int64_t, int64_t>
countGlobal(Counts &c, int kind,
            const std::map<int64_t, const Access *> &byLane) {
  std::set<int64_t> touched;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto &[lane, a] : byLane) {
    for (int64_t s = a->address / 32; s <= (a->address + a->bytes - 1) / 32;
         ++s)
      touched.insert(s);
    ranges.push_back({a->address, a->address + a->bytes});
  }
  std::sort(ranges.begin(), ranges.end());
  int64_t distinct = 0, end = INT64_MIN;
  for (auto [begin, stop] : ranges) {
    distinct += std::max<int64_t>(0, stop - std::max(begin, end));
    end = std::max(end, stop);
  }
  c.globalSectors[kind] += static_cast<int64_t>(touched.size());
  c.distinctBytes[kind] += distinct;
  c.launchSectors.insert(touched.begin(), touched.end());
  return {static_cast<int64_t>(touched.size()), distinct};
}

/// Wavefronts of a warp's shared request (by lane), and the fewest it could
/// take (one per phase with an active lane).
std::pair<int64_t, int64_t>
wavefronts(const std::map<int64_t, const Access *> &byLane) {
  int64_t width = 0;
  for (const auto &[lane, a] : byLane)
    width = std::max(width, a->bytes);
  const int64_t lanesPerPhase =
      width <= 4 ? 32 : 128 / std::min<int64_t>(width, 16);
  std::map<int64_t, std::array<std::set<int64_t>, 32>> phases;
  for (const auto &[lane, a] : byLane) {
    auto &banks = phases[lane / lanesPerPhase];
    for (int64_t word = a->address / 4; word <= (a->address + a->bytes - 1) / 4;
         ++word)
      banks[word % 32].insert(word);
  }
  int64_t total = 0;
  for (const auto &[phase, banks] : phases) {
    size_t most = 1;
    for (const auto &words : banks)
      most = std::max(most, words.size());
    total += static_cast<int64_t>(most);
  }
  return {total, static_cast<int64_t>(phases.size())};
}

/// Adds the block's accesses, grouped into warp-wide requests, to the
/// launch's counts and forgets them.
void countBlock() {
  using Key =
      std::tuple<int64_t, int32_t, uint32_t, int32_t>; // warp, site, seq, kind
  std::map<Key, std::map<int64_t, const Access *>> requests;
  Counts &c = launch.counts;
  const BlockWork before = workOf(c);
  for (int64_t tid = 0; tid < int64_t(launch.logs.size()); ++tid) {
    const ThreadLog &log = launch.logs[tid];
    for (const Access &a : log.accesses)
      if (a.bytes > 0)
        requests[{tid / 32, a.site, a.seq, a.kind}][tid % 32] = &a;
    c.tensorFlops += log.tensorFlops;
    c.tensorSharedBytes += log.tensorSharedBytes;
    c.tmaSharedBytes += log.tmaSharedBytes;
    for (int i = 0; i < kClasses; ++i)
      c.instructions[i] += log.instructions[i];
    c.barriers = std::max(c.barriers, log.barriers); // per block, below
  }
  for (const auto &[key, byLane] : requests) {
    const int32_t kind = std::get<3>(key);
    Site &site = launch.sites[std::get<1>(key)];
    site.kind = kind;
    c.requests[kind] += 1;
    site.requests += 1;
    for (const auto &[lane, a] : byLane) {
      c.bytes[kind] += a->bytes;
      site.bytes += a->bytes;
    }
    if (kind == GlobalLoad || kind == GlobalStore) {
      auto [sectors, distinct] = countGlobal(c, kind - GlobalLoad, byLane);
      site.sectors += sectors;
      site.distinct += distinct;
    } else {
      auto [total, ideal] = wavefronts(byLane);
      c.wavefronts[kind - SharedLoad] += total;
      c.idealWavefronts[kind - SharedLoad] += ideal;
      site.wavefronts += total;
      site.idealWavefronts += ideal;
    }
  }
  BlockWork work = workOf(c);
  for (size_t i = 0; i < work.size(); ++i)
    work[i] -= before[i];
  launch.blocks.push_back(work);
  for (ThreadLog &log : launch.logs)
    log = ThreadLog();
}

/// The blocks' work in the hardware's dispatch order (x fastest), runs of
/// equal blocks as `work*count`.
void reportBlocks(FILE *out) {
  std::fprintf(out, "  blocks %zu:", launch.blocks.size());
  auto print = [&](const BlockWork &w, int64_t count) {
    for (size_t i = 0; i < w.size(); ++i)
      std::fprintf(out, "%s%lld", i ? "," : " ", static_cast<long long>(w[i]));
    if (count > 1)
      std::fprintf(out, "*%lld", static_cast<long long>(count));
  };
  const BlockWork *run = nullptr;
  int64_t count = 0;
  for (int64_t y = 0; y < launch.gridY; ++y)
    for (int64_t x = 0; x < launch.gridX; ++x) {
      const BlockWork &w = launch.blocks[x * launch.gridY + y];
      if (run && *run == w) {
        ++count;
        continue;
      }
      if (run)
        print(*run, count);
      run = &w;
      count = 1;
    }
  if (run)
    print(*run, count);
  std::fprintf(out, "\n");
}

/// A line per access site that made requests: coalescing (distinct bytes
/// over those of the sectors touched) for global ones, wavefronts over the
/// fewest for shared ones.
void reportSites(FILE *out) {
  constexpr const char *kKindNames[] = {"global load", "global store",
                                        "shared load", "shared store"};
  for (const auto &[number, site] : launch.sites) {
    if (site.requests == 0)
      continue;
    std::fprintf(out, "  site %d %s, %s: requests %lld, bytes %lld, ", number,
                 site.name.c_str(), kKindNames[site.kind],
                 static_cast<long long>(site.requests),
                 static_cast<long long>(site.bytes));
    if (site.kind == GlobalLoad || site.kind == GlobalStore)
      std::fprintf(out, "sectors %lld, coalescing %.2f\n",
                   static_cast<long long>(site.sectors),
                   double(site.distinct) / double(32 * site.sectors));
    else
      std::fprintf(out, "wavefronts %lld (ideal %lld), conflicts %.2f\n",
                   static_cast<long long>(site.wavefronts),
                   static_cast<long long>(site.idealWavefronts),
                   double(site.wavefronts) / double(site.idealWavefronts));
  }
}

void report() {
  const Counts &c = launch.counts;
  const char *path = std::getenv("MOA_EMU_PROFILE");
  FILE *out = path && *path ? std::fopen(path, "a") : stderr;
  if (!out)
    out = stderr;
  auto ll = [](int64_t v) { return static_cast<long long>(v); };
  std::fprintf(out,
               "launch %s grid %lldx%lld block %lld | tensor-core flop %lld",
               launch.kernel.c_str(), ll(launch.gridX), ll(launch.gridY),
               ll(launch.threads), ll(c.tensorFlops));
  for (int store = 0; store < 2; ++store)
    std::fprintf(out,
                 " | global %s: requests %lld, bytes %lld (distinct %lld), "
                 "sectors %lld",
                 store ? "store" : "load", ll(c.requests[GlobalLoad + store]),
                 ll(c.bytes[GlobalLoad + store]), ll(c.distinctBytes[store]),
                 ll(c.globalSectors[store]));
  std::fprintf(out, " | global distinct sectors %lld",
               ll(c.launchSectors.size()));
  for (int store = 0; store < 2; ++store)
    std::fprintf(out,
                 " | shared %s: requests %lld, bytes %lld, wavefronts %lld "
                 "(ideal %lld)",
                 store ? "store" : "load", ll(c.requests[SharedLoad + store]),
                 ll(c.bytes[SharedLoad + store]), ll(c.wavefronts[store]),
                 ll(c.idealWavefronts[store]));
  std::fprintf(
      out, " | barriers per block %lld | thread instructions:", ll(c.barriers));
  for (int i = 0; i < kClasses; ++i)
    std::fprintf(out, "%s %s %lld", i ? "," : "", kClassNames[i],
                 ll(c.instructions[i]));
  std::fprintf(out,
               " | async shared bytes: wgmma reads %lld, TMA writes %lld"
               " | dynamic shared bytes %lld\n",
               ll(c.tensorSharedBytes), ll(c.tmaSharedBytes),
               ll(launch.dynamicShared));
  const char *sites = std::getenv("MOA_EMU_PROFILE_SITES");
  if (sites && *sites)
    reportSites(out);
  const char *blocks = std::getenv("MOA_EMU_PROFILE_BLOCKS");
  if (blocks && *blocks)
    reportBlocks(out);
  if (out != stderr)
    std::fclose(out);
}

} // namespace

extern "C" {
// A GPU thread is the OpenMP thread of the same number (moa-gpu-emulate).
int omp_get_thread_num();
}

namespace {
ThreadLog &thisThread() { return launch.logs[omp_get_thread_num()]; }
} // namespace

extern "C" {

void _mlir_ciface_moa_emu_profile_launch(StridedMemRefType<char, 1> *kernel,
                                         int64_t gridX, int64_t gridY,
                                         int64_t threads,
                                         int64_t dynamicShared) {
  launch = Launch();
  launch.kernel.assign(kernel->data + kernel->offset, kernel->sizes[0]);
  launch.gridX = gridX;
  launch.gridY = gridY;
  launch.threads = threads;
  launch.dynamicShared = dynamicShared;
  launch.logs.assign(threads, ThreadLog());
}

/// The name of access site `site` of the launch's kernel.
void _mlir_ciface_moa_emu_profile_site(int64_t site,
                                       StridedMemRefType<char, 1> *name) {
  launch.sites[int32_t(site)].name.assign(name->data + name->offset,
                                          name->sizes[0]);
}

void moa_emu_profile_access(int32_t kind, int32_t site, int64_t address,
                            int64_t bytes) {
  ThreadLog &log = thisThread();
  log.accesses.push_back({site, log.executions[site]++, kind, address, bytes});
}

/// A lane's share of a warp's m16n8k16 mma.sync.
void moa_emu_profile_mma() { thisThread().tensorFlops += 2 * 16 * 8 * 16 / 32; }
/// A thread's share of its warpgroup's wgmma flops and of the operand bytes
/// the tensor cores read from shared memory.
void moa_emu_profile_wgmma(int64_t flops, int64_t sharedBytes) {
  thisThread().tensorFlops += flops;
  thisThread().tensorSharedBytes += sharedBytes;
}
/// The bytes a TMA load writes to shared memory (its whole box).
void moa_emu_profile_tma_shared(int64_t bytes) {
  thisThread().tmaSharedBytes += bytes;
}
void moa_emu_profile_barrier() { ++thisThread().barriers; }
void moa_emu_profile_instructions(int64_t floats, int64_t integers,
                                  int64_t special, int64_t conversions,
                                  int64_t shuffles, int64_t branches) {
  Instructions &n = thisThread().instructions;
  const Instructions add = {floats,      integers, special,
                            conversions, shuffles, branches};
  for (int i = 0; i < kClasses; ++i)
    n[i] += add[i];
}
void moa_emu_profile_block_end() { countBlock(); }

void moa_emu_profile_launch_end() { report(); }

} // extern "C"
