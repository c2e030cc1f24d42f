//===- ThreadPool.h - Parallel loops for the CPU kernels --------*- C++ -*-===//
//
// The kernels' loops run on this pool rather than OpenMP: OpenMP threads spin
// while they wait, and next to OpenBLAS' own threads on a small machine that
// spinning took most of the time (75 ms instead of 19 ms for a 4x256 layer on
// 2 cores). Idle workers here sleep on a condition variable.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_THREADPOOL_H
#define MOA_RUNTIME_THREADPOOL_H

#include <cstdint>
#include <functional>

namespace moa::runtime {

/// Runs body(begin, end) over [0, n) split into contiguous chunks, one per
/// thread (MOA_NUM_THREADS, default: the hardware's). Calls made while the
/// pool is busy (nested, or from another thread) run inline.
void parallelFor(int64_t n,
                 const std::function<void(int64_t begin, int64_t end)> &body);

} // namespace moa::runtime

#endif // MOA_RUNTIME_THREADPOOL_H
