//===- Gemm.h - The runtime's single-threaded GEMMs -------------*- C++ -*-===//
//
// Every GEMM of a CPU module goes through moa_rt_sgemm or moa_rt_bf16_gemm
// to here. The generated code runs its tiles in parallel, so these are
// single-threaded.
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
/// `nextB`, where not null, is the B (same shape and ldb) of the GEMM the
/// thread runs next: it is prefetched into L2 as B is read, so that a
/// grouped GEMM streaming one weight per expert from memory overlaps the
/// next expert's reads with this one's arithmetic (a hint: never
/// dereferenced as data, and ignored where B is not read in place).
void sgemm(GemmBackend backend, bool transposeA, bool transposeB, int64_t m,
           int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
           const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
           const float *nextB = nullptr);

/// How a GEMM of bf16 operands runs, chosen once per process.
enum class Bf16Gemm {
  /// libxsmm's AVX512-BF16 kernels (vdpbf16ps: bf16 pairs, f32 sums) on
  /// the weight packed with pairs of rows interleaved (VNNI).
  Native,
  /// Both operands widened to f32 for sgemm: CPUs without AVX512-BF16
  /// (libxsmm emulates bf16 there at half its f32 rate).
  Widened,
};

/// Native where the CPU has AVX512-BF16 and libxsmm's bf16 kernel, raced
/// once against its f32 one, multiplies at least 1.3x faster (twice on AMD
/// Zen 4; half as fast on the Xeons measured); MOA_GEMM_BF16=native or
/// widen decides instead (for comparisons), MOA_GEMM=openblas widens.
Bf16Gemm defaultBf16Gemm();

/// The rate of libxsmm's bf16 kernel over its f32 one at a tile shape of
/// the layers (C [64 x 128] = A [64 x 256] W), each the best of 5 rounds of
/// 8 calls (about 5 ms in all); 0 if either has no kernel.
double bf16KernelSpeedup();

/// Rows [first, first + count) of the bf16 weight W [k x n] (row-major,
/// leading dimension ldw; `first` even) into `packed`, which has room for
/// k x n floats and is what bf16Gemm reads: pairs of rows interleaved, in
/// bf16, for Native; widened to f32 (row-major, leading dimension n) for
/// Widened. Ranges that start at even rows may be packed by different
/// threads; the last, where k is odd, ends the last pair with a 0. With
/// `transposed`, W is the transpose of w [n x k] (a weight read as W^T in a
/// backward GEMM): W's row p is w's column p.
void packBf16(Bf16Gemm mode, int64_t n, const uint16_t *w, int64_t ldw,
              int64_t first, int64_t count, float *packed,
              bool transposed = false);

/// A block of a weight W packed by packBf16: its rows from `firstRow`
/// (even) and columns from `firstColumn`, W having `columns` columns.
struct PackedBf16 {
  const float *packed;
  int64_t columns;
  int64_t firstRow = 0, firstColumn = 0;
};

/// Row-major C[m x n] = A W + beta C (beta 0 or 1) with A bf16 [m x k]
/// (leading dimension lda) and W [k x n] a block of a weight packed by
/// packBf16 in the same mode; sums in f32 (the products of bf16 numbers are
/// exact in f32).
void bf16Gemm(Bf16Gemm mode, GemmBackend backend, int64_t m, int64_t n,
              int64_t k, const uint16_t *a, int64_t lda, const PackedBf16 &w,
              float beta, float *c, int64_t ldc);

} // namespace moa::runtime

#endif // MOA_RUNTIME_GEMM_H
