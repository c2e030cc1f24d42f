//===- KernelContext.h - State shared by generated code and runtime -*- C++
//-*-===//
//
// Compiled modules call the runtime functions of RuntimeABI.h. Generated code
// cannot unwind, so moa_rt_fail records the first failure of a call here and
// the runtime reports it after the call returns; moa_rt_record_routing
// records, per moa.route executed, how many (token, slot) pairs each expert
// received, for the head-usage summary. The context belongs to the thread
// that called the entry: generated code calls moa_rt_fail and
// moa_rt_record_routing outside its parallel loops, so they see it. Only
// moa_rt_sgemm runs on OpenMP workers; its layout check guards an invariant
// of the generated code (the sizes it passes were checked before), and a
// failure on a worker thread would go unreported.
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
