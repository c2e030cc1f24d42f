//===- Gemm.h - The runtime's single-threaded f32 GEMM ----------*- C++ -*-===//
//
// Every GEMM of a CPU module goes through moa_rt_sgemm to here. The
// generated code runs its tiles in parallel, so this is single-threaded.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_GEMM_H
#define MOA_RUNTIME_GEMM_H

#include <cstdint>

namespace moa::runtime {

/// Which implementation sgemm uses.
enum class GemmBackend {
  /// libxsmm's JIT kernels for the CPU it detects itself (AVX2, AVX-512,
  /// ...), blocked so that each block of B stays in the L2 cache; OpenBLAS
  /// where libxsmm has no kernel (a beta other than 0 and 1).
  Xsmm,
  /// OpenBLAS' cblas_sgemm (whose CPU detection misses recent Xeons),
  /// loaded on first use with one thread; plain loops without it.
  OpenBlas,
};

/// The backend chosen by the environment: MOA_GEMM=openblas selects
/// OpenBLAS (for comparisons), anything else libxsmm.
GemmBackend defaultGemmBackend();

/// Row-major C[m x n] = alpha * op(A) op(B) + beta * C, op(X) = X^T where
/// `transpose...`; leading dimensions as BLAS's (A is [k x m] when
/// transposed, B [n x k]). k = 0 gives beta * C (0 for beta = 0).
void sgemm(GemmBackend backend, bool transposeA, bool transposeB, int64_t m,
           int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
           const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

} // namespace moa::runtime

#endif // MOA_RUNTIME_GEMM_H
