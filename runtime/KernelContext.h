//===- KernelContext.h - State shared by kernels and the runtime -*- C++
//-*-===//
//
// Compiled modules call the kernels in Kernels.cpp; the runtime invokes the
// module. A kernel cannot unwind through compiled code, so it records the
// first error of a call here and returns; the runtime reports it after the
// call. The routing kernel also records how many (token, slot) pairs each
// expert received, per routing op in call order, for the head-usage summary.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_KERNELCONTEXT_H
#define MOA_RUNTIME_KERNELCONTEXT_H

#include <cstdint>
#include <string>
#include <vector>

namespace moa::runtime {

struct KernelContext {
  std::string error;
  /// One entry per moa.route executed, in order: pairs routed to each expert.
  std::vector<std::vector<int64_t>> expertCounts;
};

/// The context of the calling thread's current call (null outside a call).
KernelContext *currentKernelContext();

/// Installs `context` for the calling thread for the lifetime of the scope.
class ScopedKernelContext {
public:
  explicit ScopedKernelContext(KernelContext *context);
  ~ScopedKernelContext();

private:
  KernelContext *previous;
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_KERNELCONTEXT_H
