//===- KernelFlags.h - Flags the CPU lowering passes to kernels -*- C++ -*-===//
//
// Shared by the lowering (which encodes op attributes as one i64 argument)
// and the kernels (which decode it), so the two cannot drift apart.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_KERNELFLAGS_H
#define MOA_RUNTIME_KERNELFLAGS_H

#include <cstdint>

namespace moa::runtime {

enum class KernelFlag : int64_t {
  TopKSoftmax = 1 << 0, // moa.route gating = topk_softmax
  Renormalize = 1 << 1, // moa.route renormalize
  HasMask = 1 << 2,     // the optional padding mask operand is present
  HasGates = 1 << 3,    // moa.grouped_matmul combines with gates
  Causal = 1 << 4,      // moa.multi_query_attention causal
  HasScale = 1 << 5,    // moa.multi_query_attention has an explicit scale
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_KERNELFLAGS_H
