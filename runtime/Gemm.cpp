//===- Gemm.cpp - The runtime's single-threaded f32 GEMM ------------------===//
//
// libxsmm generates a kernel per (m, n, k, leading dimensions, beta) at run
// time for the CPU it finds and keeps it in its registry; measured on the
// 2-core AVX-512 Xeon of bench/RESULTS.md it runs the projections of moa's
// tiles (128 rows, K and N of 64 to 1024) at 145-168 GFLOP/s per core, where
// OpenBLAS 0.3.21 runs 29-32 as it detects the CPU and 119-134 when told the
// CPU (OPENBLAS_CORETYPE). Its kernels neither block for the cache nor split
// the sum over K, so both are done here (xsmmBlocked).
//
//===----------------------------------------------------------------------===//

#include "runtime/Gemm.h"

#include <cblas.h>
#include <libxsmm.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace moa::runtime {
namespace {

/// K is cut into chunks of kBlock, N into blocks of kBlock columns where a
/// chunk of B's rows would hold more than kUnblockedFloats (512 KiB, L2).
constexpr int64_t kUnblockedFloats = 128 * 1024;
constexpr int64_t kBlock = 256;

void openBlas(bool transposeA, bool transposeB, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b,
              int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
              transposeB ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              std::max<int64_t>(lda, 1), b, std::max<int64_t>(ldb, 1), beta, c,
              std::max<int64_t>(ldc, 1));
}

/// `buffer` with `size` elements; false (and no exception through the
/// generated code that called sgemm) if there is no memory for it.
bool resized(std::vector<float> &buffer, int64_t size) {
  try {
    buffer.resize(size);
    return true;
  } catch (const std::bad_alloc &) {
    return false;
  }
}

/// libxsmm's kernel for C (+)= op(A) B with B [k x n] (leading dimension
/// ldb) in its column-major view, C^T = B^T op(A)^T; null if it has none.
libxsmm_smmfunction xsmmKernel(bool transposeA, int64_t m, int64_t n, int64_t k,
                               int64_t lda, int64_t ldb, int64_t ldc,
                               float beta) {
  const libxsmm_blasint mm = n, nn = m, kk = k, ldA = ldb, ldB = lda, ldC = ldc;
  const float one = 1.0f;
  const int flags = transposeA ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
  return libxsmm_smmdispatch(mm, nn, kk, &ldA, &ldB, &ldC, &one, &beta, &flags,
                             nullptr);
}

/// out [k x n] = alpha * op(B), op(B) = B^T (B [n x k]) where `transposeB`.
void copyScaled(bool transposeB, int64_t k, int64_t n, float alpha,
                const float *b, int64_t ldb, float *out) {
  if (transposeB) { // libxsmm's cache-blocked transposition, column-major
    libxsmm_otrans(out, b, sizeof(float), k, n, ldb, n);
    if (alpha == 1.0f)
      return;
  }
  for (int64_t p = 0; p < k; ++p) {
    const float *from = transposeB ? out + p * n : b + p * ldb;
    for (int64_t j = 0; j < n; ++j)
      out[p * n + j] = alpha * from[j];
  }
}

/// C = alpha op(A) op(B) + beta C in blocks of B; false, C untouched, if
/// libxsmm lacks a kernel for one of them (or there is no memory for the
/// two scratch blocks of the thread).
bool xsmmBlocked(bool transposeA, bool transposeB, int64_t m, int64_t n,
                 int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
  // A kernel sums its K terms in one chain per element, whose rounding error
  // grows with sqrt(K) (4x OpenBLAS' at K = 2048). So K goes in chunks: the
  // first into C, each further one into a scratch block added to C, which
  // keeps the error at OpenBLAS' level for little more traffic.
  const int64_t blockK = std::min(k, kBlock);
  const int64_t blockN =
      blockK * n <= kUnblockedFloats ? n : std::min(n, kBlock);
  // libxsmm's kernels take B as it is and alpha = 1: otherwise each block of
  // B becomes alpha * op(B) in a scratch block first.
  const bool direct = !transposeB && alpha == 1.0f;
  thread_local std::vector<float> partial, panel;
  if ((k > blockK && !resized(partial, m * blockN)) ||
      (!direct && !resized(panel, blockK * blockN)))
    return false;
  // All kernels are looked up before any runs (the second lookup of each is
  // a hash in libxsmm's registry).
  for (bool run : {false, true})
    for (int64_t j = 0; j < n; j += blockN)
      for (int64_t p = 0; p < k; p += blockK) {
        const int64_t cols = std::min(blockN, n - j);
        const int64_t depth = std::min(blockK, k - p);
        const bool first = p == 0;
        libxsmm_smmfunction kernel =
            xsmmKernel(transposeA, m, cols, depth, lda, direct ? ldb : cols,
                       first ? ldc : cols, first ? beta : 0.0f);
        if (!kernel)
          return false;
        if (!run)
          continue;
        const float *bBlock = transposeB ? b + j * ldb + p : b + p * ldb + j;
        if (!direct) {
          copyScaled(transposeB, depth, cols, alpha, bBlock, ldb, panel.data());
          bBlock = panel.data();
        }
        // A's block starts at column p (row p when A is transposed).
        kernel(bBlock, transposeA ? a + p * lda : a + p,
               first ? c + j : partial.data());
        if (!first)
          for (int64_t i = 0; i < m; ++i)
            for (int64_t jj = 0; jj < cols; ++jj)
              c[i * ldc + j + jj] += partial[i * cols + jj];
      }
  return true;
}

} // namespace

GemmBackend defaultGemmBackend() {
  const char *choice = std::getenv("MOA_GEMM");
  return choice && std::strcmp(choice, "openblas") == 0 ? GemmBackend::OpenBlas
                                                        : GemmBackend::Xsmm;
}

void sgemm(GemmBackend backend, bool transposeA, bool transposeB, int64_t m,
           int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
           const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) { // BLAS would leave C alone for beta = 1 only
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  const bool fits = std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX;
  if (backend == GemmBackend::Xsmm && fits && (beta == 0.0f || beta == 1.0f) &&
      xsmmBlocked(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta,
                  c, ldc))
    return;
  openBlas(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c,
           ldc);
}

} // namespace moa::runtime
