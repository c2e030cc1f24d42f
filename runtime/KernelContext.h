//===- KernelContext.h - State shared by generated code and runtime -*- C++-*-//
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
// Buffers come from the runtime's allocator (_mlir_memref_to_llvm_alloc,
// finalize-memref-to-llvm's generic functions): generated code cannot check
// an allocation, so when one fails the allocator records the error, frees
// what the call had allocated and jumps back to callRecoverably, which
// reports it. Generated code allocates and frees outside its parallel loops;
// an allocation failing inside one (or on a thread without a context) ends
// the process with a message instead.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_KERNELCONTEXT_H
#define MOA_RUNTIME_KERNELCONTEXT_H

#include <csetjmp>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace moa::runtime {

struct KernelContext {
  std::string error;
  /// One entry per moa.route executed, in order: pairs routed to each expert.
  std::vector<std::vector<int64_t>> expertCounts;
  /// Whether the caller wants expertCounts (a GPU entry copies its routing
  /// indices to the host only then).
  bool wantsRouting = true;
  /// Where a failed allocation jumps to (set by callRecoverably).
  std::jmp_buf *recovery = nullptr;
  /// Buffers of this call not freed yet, freed if an allocation fails.
  std::unordered_set<void *> live;
};

/// Calls the packed entry `entry(args)` with `context` installed; false if
/// an allocation failed (context.error says which size), in which case what
/// the call had allocated is freed.
bool callRecoverably(void (*entry)(void **), void **args,
                     KernelContext &context);

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
