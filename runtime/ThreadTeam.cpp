//===- ThreadTeam.cpp - OpenMP threads awake in a call -------------------===//

#include "runtime/ThreadTeam.h"

#include <dlfcn.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace moa::runtime {

namespace {
/// How long (ms) a thread waits awake for the next region during a call:
/// longer than the serial work between two kernels of a layer.
constexpr int kAwakeMilliseconds = 1;

void nothing(void *) {}
} // namespace

ThreadTeam ThreadTeam::forModule(void *handle) {
  ThreadTeam team;
  // kmp_set_blocktime sets the calling thread's value, which the next
  // parallel region hands to the threads it runs on; GOMP_parallel is
  // libomp's GNU-compatible entry for such a region.
  team.setBlocktime =
      reinterpret_cast<void (*)(int)>(dlsym(handle, "kmp_set_blocktime"));
  team.parallel =
      reinterpret_cast<decltype(team.parallel)>(dlsym(handle, "GOMP_parallel"));
  if (!team.setBlocktime || !team.parallel)
    team.setBlocktime = nullptr;
  return team;
}

ThreadTeam::CallScope::CallScope(const ThreadTeam &team) : team(team) {
#if defined(__x86_64__)
  // Flush-to-zero (bit 15) and denormals-are-zero (bit 6).
  callerFloatMode = _mm_getcsr();
  _mm_setcsr(callerFloatMode | 0x8040);
#endif
  if (team.setBlocktime)
    team.setBlocktime(kAwakeMilliseconds);
}

ThreadTeam::CallScope::~CallScope() {
#if defined(__x86_64__)
  _mm_setcsr(callerFloatMode);
#endif
  if (!team.setBlocktime)
    return;
  // An empty region hands blocktime 0 (and the caller's floating-point
  // mode) to the threads, which then sleep at once instead of spinning for
  // kAwakeMilliseconds after the call.
  team.setBlocktime(0);
  team.parallel(nothing, nullptr, 0, 0);
}

} // namespace moa::runtime
