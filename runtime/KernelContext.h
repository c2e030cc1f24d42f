//===- KernelContext.h - State shared by generated code and runtime -*- C++
//-*-===//
//
// Compiled modules call the runtime functions of RuntimeABI.h. Generated code
// cannot unwind, so moa_rt_fail records the first failure of a call here and
// the runtime reports it after the call returns; moa_rt_record_routing
// records, per moa.route executed, how many (token, slot) pairs each expert
// received, for the head-usage summary.
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
