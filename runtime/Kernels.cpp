//===- Kernels.cpp - The runtime functions compiled modules call ----------===//
//
// See RuntimeABI.h. Everything else a moa module computes is generated code
// (lowering/cpu/).
//
//===----------------------------------------------------------------------===//

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "runtime/Gemm.h"
#include "runtime/KernelContext.h"
#include "runtime/RuntimeABI.h"
#include "runtime/Tensor.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// libomp's, when the module loaded it (always, for a CPU module).
extern "C" int omp_in_parallel(void) __attribute__((weak));

using namespace moa::runtime;

namespace {
thread_local KernelContext *tlsContext = nullptr;

/// Records `message` as the call's error unless one is recorded already
/// (the first failure is the one to report).
void recordError(const std::string &message) {
  if (tlsContext && tlsContext->error.empty())
    tlsContext->error = message;
}

void fail(int64_t code) { recordError(failureMessage(code)); }

/// The mode of every bf16 GEMM of the process: the packing and the GEMM
/// must agree.
Bf16Gemm bf16Mode() {
  static const Bf16Gemm mode = defaultBf16Gemm();
  return mode;
}

/// The characters of a memref<?xi8> (a constant text of the module).
std::string text(const StridedMemRefType<char, 1> *chars) {
  return std::string(chars->data + chars->offset, size_t(chars->sizes[0]));
}

[[maybe_unused]] const bool kRuntimeSetUp = [] {
  // Activations are allocated and freed on every call; above glibc's default
  // 128 KiB threshold each would be a fresh mmap whose pages fault in again
  // on every call (7% of a layer's time, and it grew with E).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();
} // namespace

namespace moa::runtime {
ScopedKernelContext::ScopedKernelContext(KernelContext *context)
    : previous(tlsContext) {
  tlsContext = context;
}
ScopedKernelContext::~ScopedKernelContext() { tlsContext = previous; }

bool callRecoverably(void (*entry)(void **), void **args,
                     KernelContext &context) {
  ScopedKernelContext scope(&context);
  // Nothing here may change between setjmp and the longjmp back (locals
  // would be indeterminate): the context lives outside this frame.
  std::jmp_buf recovery;
  context.recovery = &recovery;
  if (setjmp(recovery) != 0) {
    context.recovery = nullptr;
    for (void *buffer : context.live)
      std::free(buffer);
    context.live.clear();
    return false;
  }
  entry(args);
  context.recovery = nullptr;
  context.live.clear(); // the results now belong to the caller
  return true;
}

const char *failureMessage(int64_t code) {
  switch (static_cast<FailureCode>(code)) {
  case FailureCode::DispatchIndexOutOfRange:
    return "moa.dispatch: an expert index is outside [-1, E)";
  case FailureCode::GroupedMatmulBadPermutation:
    return "moa.grouped_matmul: permutation and offsets are not a grouping "
           "of the (token, slot) pairs";
  case FailureCode::ShapeMismatch:
    return "operands with dynamic sizes do not agree (e.g. a mask or the "
           "memory has another batch or length than the query)";
  case FailureCode::GemmLayout:
    return "moa_rt_sgemm: operand sizes or strides do not fit a GEMM";
  case FailureCode::IndexOutOfRange:
    return "an embedding index (a token or a position id) is outside its "
           "table";
  case FailureCode::TargetOutOfRange:
    return "a cross-entropy target is outside the vocabulary (-1 marks an "
           "unlabelled token)";
  case FailureCode::ExpertIndexOutOfRange:
    return "a routing index is outside [-1, E) (-1 marks an unrouted slot; "
           "0 to E-1 name the experts)";
  case FailureCode::CacheOffsetOutOfRange:
    return "a sequence does not fit its cache: each offset must lie in "
           "[0, S - T] for T new tokens and a cache of S rows";
  case FailureCode::OptimizerStep:
    return "moa.adamw: the step count must be a number >= 1 (the bias "
           "corrections divide by 1 - beta^step)";
  }
  return "unknown failure";
}
} // namespace moa::runtime

namespace {

/// Tracks `buffer` for the calling thread's call (freed if a later
/// allocation fails); untracked if even that bookkeeping has no memory.
void *tracked(void *buffer) {
  if (buffer && tlsContext && tlsContext->recovery) {
    try {
      tlsContext->live.insert(buffer);
    } catch (const std::bad_alloc &) {
    }
  }
  return buffer;
}

/// A buffer of `bytes` could not be allocated: back to callRecoverably with
/// the error, or, where that is impossible, a message and the end.
[[noreturn]] void allocationFailed(uint64_t bytes) {
  char message[160];
  std::snprintf(message, sizeof(message),
                "out of memory: a buffer of %llu bytes could not be "
                "allocated (are the batch and sequence sizes sensible?)",
                static_cast<unsigned long long>(bytes));
  const bool inParallel = omp_in_parallel && omp_in_parallel();
  if (tlsContext && tlsContext->recovery && !inParallel) {
    try {
      if (tlsContext->error.empty())
        tlsContext->error = message;
    } catch (const std::bad_alloc &) {
    }
    std::longjmp(*tlsContext->recovery, 1);
  }
  std::fprintf(stderr, "moa runtime: %s\n", message);
  std::abort();
}

} // namespace

extern "C" {

// finalize-memref-to-llvm{use-generic-functions}: every memref.alloc and
// memref.dealloc of a CPU module.
void *_mlir_memref_to_llvm_alloc(uint64_t bytes) {
  void *buffer = std::malloc(bytes);
  if (!buffer && bytes != 0)
    allocationFailed(bytes);
  return tracked(buffer);
}

void *_mlir_memref_to_llvm_aligned_alloc(uint64_t alignment, uint64_t bytes) {
  void *buffer = nullptr;
  if (::posix_memalign(&buffer, std::max<uint64_t>(alignment, sizeof(void *)),
                       bytes) != 0 &&
      bytes != 0)
    allocationFailed(bytes);
  return tracked(buffer);
}

void _mlir_memref_to_llvm_free(void *buffer) {
  if (buffer && tlsContext && tlsContext->recovery)
    tlsContext->live.erase(buffer);
  std::free(buffer);
}

void _mlir_ciface_moa_rt_sgemm(StridedMemRefType<float, 2> *a,
                               StridedMemRefType<float, 2> *b,
                               StridedMemRefType<float, 2> *c, float alpha,
                               float beta, int64_t transpose,
                               StridedMemRefType<float, 2> *nextB) {
  const bool transposeA = transpose & kSgemmTransposeA;
  const bool transposeB = transpose & kSgemmTransposeB;
  const int64_t m = c->sizes[0], n = c->sizes[1];
  const int64_t k = transposeA ? a->sizes[0] : a->sizes[1];
  const int64_t aRows = transposeA ? k : m;
  const int64_t bRows = transposeB ? n : k, bCols = transposeB ? k : n;
  const int64_t aCols = transposeA ? m : k;
  if (a->sizes[0] != aRows || a->sizes[1] != aCols || b->sizes[0] != bRows ||
      b->sizes[1] != bCols || (aRows > 0 && a->strides[1] != 1) ||
      (m > 0 && c->strides[1] != 1) || (bRows > 0 && b->strides[1] != 1) ||
      nextB->sizes[0] != bRows || nextB->sizes[1] != bCols ||
      (bRows > 0 && (nextB->strides[0] != b->strides[0] ||
                     nextB->strides[1] != b->strides[1])))
    return fail(static_cast<int64_t>(FailureCode::GemmLayout));
  static const GemmBackend backend = defaultGemmBackend();
  sgemm(backend, transposeA, transposeB, m, n, k, alpha, a->data + a->offset,
        a->strides[0], b->data + b->offset, b->strides[0], beta,
        c->data + c->offset, c->strides[0], nextB->data + nextB->offset);
}

void _mlir_ciface_moa_rt_pack_bf16(StridedMemRefType<uint16_t, 2> *w,
                                   StridedMemRefType<float, 2> *packed,
                                   int64_t first, int64_t count,
                                   int64_t transposed) {
  const int64_t k = w->sizes[transposed ? 1 : 0];
  const int64_t n = w->sizes[transposed ? 0 : 1];
  if (packed->sizes[0] != k || packed->sizes[1] != n ||
      (k > 0 && n > 0 &&
       (w->strides[1] != 1 || packed->strides[0] != n ||
        packed->strides[1] != 1)) ||
      first < 0 || count < 0 || first % 2 != 0 || first + count > k)
    return fail(static_cast<int64_t>(FailureCode::GemmLayout));
  packBf16(bf16Mode(), n, w->data + w->offset, w->strides[0], first, count,
           packed->data + packed->offset, transposed != 0);
}

void _mlir_ciface_moa_rt_bf16_gemm(StridedMemRefType<uint16_t, 2> *a,
                                   StridedMemRefType<float, 2> *packed,
                                   StridedMemRefType<float, 2> *c, float beta,
                                   int64_t firstRow, int64_t firstColumn) {
  const int64_t m = c->sizes[0], n = c->sizes[1], k = a->sizes[1];
  const int64_t rows = packed->sizes[0], columns = packed->sizes[1];
  if (a->sizes[0] != m || firstRow < 0 || firstRow % 2 != 0 ||
      firstColumn < 0 || firstRow + k > rows || firstColumn + n > columns ||
      (m > 0 && k > 0 && a->strides[1] != 1) ||
      (m > 0 && n > 0 && c->strides[1] != 1) ||
      (rows > 0 && columns > 0 &&
       (packed->strides[0] != columns || packed->strides[1] != 1)) ||
      (beta != 0.0f && beta != 1.0f))
    return fail(static_cast<int64_t>(FailureCode::GemmLayout));
  static const GemmBackend backend = defaultGemmBackend();
  bf16Gemm(bf16Mode(), backend, m, n, k, a->data + a->offset, a->strides[0],
           {packed->data + packed->offset, columns, firstRow, firstColumn},
           beta, c->data + c->offset, c->strides[0]);
}

void _mlir_ciface_moa_rt_record_routing(StridedMemRefType<int32_t, 3> *indices,
                                        int64_t experts) {
  if (!tlsContext)
    return;
  std::vector<int64_t> counts(experts, 0);
  const int64_t pairs =
      indices->sizes[0] * indices->sizes[1] * indices->sizes[2];
  const int32_t *idx = indices->data + indices->offset;
  for (int64_t p = 0; p < pairs; ++p)
    if (idx[p] >= 0 && idx[p] < experts)
      ++counts[idx[p]];
  tlsContext->expertCounts.push_back(std::move(counts));
}

bool moa_rt_wants_routing() { return tlsContext && tlsContext->wantsRouting; }

void moa_rt_fail(int64_t code) { fail(code); }

void _mlir_ciface_moa_rt_fail_in(int64_t code,
                                 StridedMemRefType<char, 1> *where) {
  recordError(text(where) + ": " + failureMessage(code));
}

void _mlir_ciface_moa_rt_fail_sizes(StridedMemRefType<char, 1> *gotText,
                                    int64_t got,
                                    StridedMemRefType<char, 1> *expectedText,
                                    int64_t expected) {
  std::string expectation = text(expectedText);
  recordError(text(gotText) + " is " + std::to_string(got) + ", but " +
              (expectation.empty() ? std::string("the op expects")
                                   : expectation + " is") +
              " " + std::to_string(expected));
}

void _mlir_ciface_moa_rt_fail_message(StridedMemRefType<char, 1> *message) {
  recordError(text(message));
}

void moa_rt_report_error(const char *message) {
  if (tlsContext) {
    recordError(message);
  } else {
    std::fprintf(stderr, "moa: %s\n", message);
  }
}

/// f32 -> bf16, rounded to nearest even: the compiler-rt builtin LLVM calls
/// for a bf16 truncation on CPUs without AVX512-BF16, which Debian 12's
/// libgcc (GCC 12) lacks; generated modules link the runtime and find it
/// here. The bf16 result is returned in the low 16 bits of xmm0 (the
/// x86-64 psABI's __bf16), which a float with those bits is.
float __truncsfbf2(float value) {
  const uint32_t bits = moa::runtime::floatToBf16(value);
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return result;
}

} // extern "C"
