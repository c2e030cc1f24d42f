//===- EmulatorState.h - The emulator's running block -----------*- C++ -*-===//
//
// What the emulator's entry points share: the block being run (its threads,
// barriers, exchange buffers, shared-memory window and mbarriers) and the
// calling thread's index in it. GpuEmulator.cpp has the Ampere-era
// operations, Hopper.cpp TMA, mbarriers and wgmma.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_GPUEMULATOR_EMULATORSTATE_H
#define MOA_TEST_GPUEMULATOR_EMULATORSTATE_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sched.h>
#include <vector>

namespace moa::emu {

constexpr int kWarp = 32;
constexpr int kWarpgroup = 128;

/// Whether a thread that began waiting at `start` has waited longer than a
/// GPU could (MOA_EMU_HANG_SECONDS, 120 by default: a loaded host runs a
/// block's threads slowly), so the wait is a hang to report.
bool waitedTooLong(std::chrono::steady_clock::time_point start);

/// Reusable barrier for a fixed number of threads. Waiting threads yield the
/// CPU rather than sleep: a block has far more threads than the machine has
/// cores, and each must run to reach the barrier. One that some of its
/// threads never reach is reported as a hang.
class Barrier {
public:
  void reset(int threads) {
    expected = threads;
    arrived.store(0);
  }
  void wait() {
    const unsigned generation = passed.load(std::memory_order_acquire);
    if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == expected) {
      arrived.store(0, std::memory_order_relaxed);
      passed.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 1;
         passed.load(std::memory_order_acquire) == generation; ++spins) {
      sched_yield();
      if (spins % 1024 == 0 && waitedTooLong(start))
        hang();
    }
  }

private:
  [[noreturn]] void hang() const;

  int expected = 0;
  std::atomic<int> arrived{0};
  std::atomic<unsigned> passed{0};
};

/// What one lane contributes to a warp's mma.sync.
struct MmaOperands {
  uint32_t a[4], b[2];
  float c[4];
};

/// The row (8 16-bit elements) one lane gives ldmatrix.
struct MatrixRow {
  uint32_t words[4];
};

/// A shared buffer of the block: host memory at `host`, GPU shared-memory
/// addresses [window, window + bytes).
struct SharedBuffer {
  char *host;
  int64_t bytes, window;
};

/// An mbarrier (PTX ISA, "Parallel Synchronization and Communication
/// Instructions: mbarrier"): the current phase completes when its pending
/// arrivals and its transaction count both reach zero. The copies that
/// completed bytes on it land when a thread sees a phase complete.
struct MBarrier {
  int64_t expected = 0, pending = 0, transactions = 0;
  unsigned phase = 0;
  std::vector<std::function<void()>> copies, landing;
};

struct Block {
  int threads = 0;
  Barrier block;
  std::vector<std::unique_ptr<Barrier>> warps, warpgroups;
  std::vector<uint32_t> exchange;
  std::vector<MmaOperands> mma;
  std::vector<MatrixRow> rows;
  std::vector<SharedBuffer> shared;
  int64_t sharedEnd = 0;
  /// The block's mbarrier groups, one per creating op (its site), made by
  /// the first thread to reach it; `lock` guards them and their state.
  std::map<int64_t, std::vector<MBarrier>> mbarriers;
  /// bar.sync's barriers with an id and a thread count, by id: the count
  /// and the barrier (made under `lock` by the first thread to use it).
  std::map<int32_t, std::pair<int32_t, std::unique_ptr<Barrier>>> named;
  std::mutex lock;

  void start(int n);
};

extern Block current;
extern thread_local int64_t threadId;

/// Reports a misuse the GPU would fault or hang on, and aborts.
[[noreturn]] void fail(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

} // namespace moa::emu

#endif // MOA_TEST_GPUEMULATOR_EMULATORSTATE_H
