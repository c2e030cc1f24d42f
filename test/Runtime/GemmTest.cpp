//===- GemmTest.cpp - The runtime's GEMM against a double reference ------===//
//
// usage: moa-gemm-test
// Every case through both backends (libxsmm, OpenBLAS): the four transpose
// combinations, alpha 1 and 0.5, beta 0, 1 and 0.25 (OpenBLAS' path), leading
// dimensions wider than the rows, B small and large enough to be cut into
// blocks (with edge blocks), k = 0, with and without another B named as the
// next one to prefetch (libxsmm's prefetching kernels take it as a fourth
// pointer: read as B, it would change C). Each element must be within the
// standard error bound of an f32 dot product, (k + 2) u sum |terms|
// (u = 2^-24), of plain double loops; C is random before the call.
// bf16Gemm in both modes (libxsmm's AVX512-BF16 kernels on pairs of rows,
// and widened to f32), the weight packed in two ranges of rows: odd and
// even K, K past one chunk of 256, N cut into blocks, beta 0 and 1, to the
// same bound on bf16 inputs (their products are exact in f32); an odd
// leading dimension of A, which the kernels cannot take, in one shape; W a
// block of a larger packed weight (from row 2, column 3) where beta is 1.
// With --no-memory-for-scratch: a scaled, transposed 256 MB B under an
// address-space limit that leaves no room for a copy of it; sgemm copies
// it a block at a time, so it must compute it all the same.
//
//===----------------------------------------------------------------------===//

#include "runtime/Gemm.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace moa::runtime;

namespace {

struct Case {
  int64_t m, n, k;
  bool transposeA, transposeB;
  float alpha, beta;
  /// Whether the call names another random B as the next one to prefetch.
  bool prefetchNext = false;
};

/// |got - expected| over the standard error bound of an f32 dot product of
/// k terms, (k + 2) u `magnitude` (u = 2^-24, `magnitude` the sum of the
/// terms' and beta C's absolute values); infinite for NaN or wildly off.
double errorOverBound(double got, double expected, int64_t k,
                      double magnitude) {
  const double bound = (k + 2) * std::ldexp(1.0, -24) * magnitude + 1e-30;
  const double error = std::fabs(got - expected);
  return error <= bound * 1e6 ? error / bound : INFINITY;
}

/// Whether the columns past n of C [m x ldc] (the padding) are as before.
bool paddingUntouched(const std::vector<float> &c, const std::vector<float> &c0,
                      int64_t m, int64_t n, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j)
      if (c[i * ldc + j] != c0[i * ldc + j])
        return false;
  return true;
}

/// Max over C of |error| / bound (> 1 fails).
double worstError(GemmBackend backend, const Case &t, std::mt19937 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const int64_t aRows = t.transposeA ? t.k : t.m,
                aCols = t.transposeA ? t.m : t.k;
  const int64_t bRows = t.transposeB ? t.n : t.k,
                bCols = t.transposeB ? t.k : t.n;
  const int64_t lda = aCols + 3, ldb = bCols + 5, ldc = t.n + 2;
  std::vector<float> a(aRows * lda), b(bRows * ldb), c(t.m * ldc),
      nextB(t.prefetchNext ? b.size() : 0);
  for (std::vector<float> *v : {&a, &b, &c, &nextB})
    for (float &x : *v)
      x = uniform(rng);
  const std::vector<float> c0 = c;
  sgemm(backend, t.transposeA, t.transposeB, t.m, t.n, t.k, t.alpha, a.data(),
        lda, b.data(), ldb, t.beta, c.data(), ldc,
        t.prefetchNext ? nextB.data() : nullptr);
  auto at = [](const std::vector<float> &x, int64_t ld, bool transposed,
               int64_t i, int64_t j) {
    return double(transposed ? x[j * ld + i] : x[i * ld + j]);
  };
  double worst = 0;
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t p = 0; p < t.k; ++p) {
        double term =
            at(a, lda, t.transposeA, i, p) * at(b, ldb, t.transposeB, p, j);
        sum += term;
        magnitude += std::fabs(term);
      }
      const double before = c0[i * ldc + j];
      worst =
          std::max(worst, errorOverBound(c[i * ldc + j],
                                         t.alpha * sum + t.beta * before, t.k,
                                         std::fabs(t.alpha) * magnitude +
                                             std::fabs(t.beta * before)));
    }
  return paddingUntouched(c, c0, t.m, t.n, ldc) ? worst : INFINITY;
}

uint16_t toBf16(float value) { // inputs are bf16: truncation is exact
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return uint16_t(bits >> 16);
}

double fromBf16(uint16_t bits) {
  const uint32_t wide = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

/// Max over C of |error| / bound for bf16Gemm in `mode` (> 1 fails), W [k
/// x n] the block from (firstRow, firstColumn) of a packed weight, packed
/// from its transpose where `transposed`.
double worstBf16Error(Bf16Gemm mode, int64_t m, int64_t n, int64_t k,
                      float beta, bool oddLda, int64_t firstRow,
                      int64_t firstColumn, bool transposed, std::mt19937 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const int64_t rows = firstRow + k + 1, columns = firstColumn + n + 3;
  const int64_t lda = k + 2 + k % 2 + oddLda, ldc = n + 2;
  // W [rows x columns], stored as it is or as its transpose.
  const int64_t ldw = (transposed ? rows : columns) + 5;
  auto at = [&](int64_t p, int64_t j) {
    return transposed ? j * ldw + p : p * ldw + j;
  };
  std::vector<uint16_t> a(m * lda), w((transposed ? columns : rows) * ldw);
  for (std::vector<uint16_t> *v : {&a, &w})
    for (uint16_t &x : *v)
      x = toBf16(uniform(rng));
  std::vector<float> c(m * ldc), packed(rows * columns);
  for (float &x : c)
    x = uniform(rng);
  const std::vector<float> c0 = c;
  const int64_t half = rows / 4 * 2; // two ranges, the second from an even row
  packBf16(mode, columns, w.data(), ldw, 0, half, packed.data(), transposed);
  packBf16(mode, columns, w.data(), ldw, half, rows - half, packed.data(),
           transposed);
  bf16Gemm(mode, GemmBackend::Xsmm, m, n, k, a.data(), lda,
           {packed.data(), columns, firstRow, firstColumn}, beta, c.data(),
           ldc);
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double term = fromBf16(a[i * lda + p]) *
                            fromBf16(w[at(firstRow + p, firstColumn + j)]);
        sum += term;
        magnitude += std::fabs(term);
      }
      const double before = c0[i * ldc + j];
      worst =
          std::max(worst, errorOverBound(c[i * ldc + j], sum + beta * before, k,
                                         magnitude + std::fabs(beta * before)));
    }
  return paddingUntouched(c, c0, m, n, ldc) ? worst : INFINITY;
}

/// Limits this process' address space to what it maps now plus `bytes`.
bool limitAddressSpace(int64_t bytes) {
  int64_t pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = pages * sysconf(_SC_PAGESIZE) + bytes;
  return pages > 0 && setrlimit(RLIMIT_AS, &limit) == 0;
}

} // namespace

int main(int argc, char **argv) {
  std::mt19937 rng(11);
  if (argc == 2 && std::strcmp(argv[1], "--no-memory-for-scratch") == 0) {
    // A, B and C fit in 400 MB more; B's 256 MB scratch copy does not.
    if (!limitAddressSpace(int64_t(400) << 20))
      return 2;
    Case t{2, 8192, 8192, false, true, 0.5f, 0.0f};
    double worst = worstError(GemmBackend::Xsmm, t, rng);
    std::printf("no memory for the scratch: error %g of the bound\n", worst);
    return worst <= 1.0 ? 0 : 1;
  }
  // B of few columns (n <= 16, the router) takes the dot-product path in
  // the NN cases and C^T = B^T A in the TN ones: {128, 8, 512},
  // {33, 16, 301} and {9, 11, 40}.
  const int64_t shapes[][3] = {{1, 1, 1},      {7, 5, 3},      {128, 64, 512},
                               {128, 512, 64}, {33, 600, 300}, {64, 1024, 1024},
                               {5, 9, 0},      {128, 8, 512},  {33, 16, 301},
                               {9, 11, 40}};
  int failures = 0, cases = 0;
  for (GemmBackend backend : {GemmBackend::Xsmm, GemmBackend::OpenBlas})
    for (auto [m, n, k] : shapes)
      for (int transposes = 0; transposes < 4; ++transposes)
        for (float alpha : {1.0f, 0.5f})
          for (float beta : {0.0f, 1.0f, 0.25f})
            for (bool prefetch : {false, true}) {
              const bool transA = transposes & 1, transB = transposes & 2;
              const Case t{m, n, k, transA, transB, alpha, beta, prefetch};
              double worst = worstError(backend, t, rng);
              ++cases;
              if (worst <= 1.0)
                continue;
              ++failures;
              std::printf("FAIL %s m=%lld n=%lld k=%lld transA=%d transB=%d "
                          "alpha=%g beta=%g%s: error %g of the bound\n",
                          backend == GemmBackend::Xsmm ? "xsmm" : "openblas",
                          (long long)m, (long long)n, (long long)k,
                          t.transposeA, t.transposeB, alpha, beta,
                          prefetch ? " (next B named)" : "", worst);
            }
  std::printf("gemm: %d of %d cases within the f32 error bound\n",
              cases - failures, cases);
  const int64_t bf16Shapes[][3] = {{1, 1, 1},        {7, 5, 3},
                                   {128, 64, 512},   {33, 600, 301},
                                   {64, 1024, 1024}, {32, 96, 2}};
  int bf16Failures = 0, bf16Cases = 0;
  for (Bf16Gemm mode : {Bf16Gemm::Native, Bf16Gemm::Widened})
    for (auto [m, n, k] : bf16Shapes)
      for (float beta : {0.0f, 1.0f})
        for (bool transposed : {false, true}) {
          // An odd lda (no kernel: the widened path) in one case of each; a
          // block from row 2 and column 3 of the weight in the beta 1 cases.
          const bool oddLda = m == 7, block = beta == 1.0f;
          const double worst =
              worstBf16Error(mode, m, n, k, beta, oddLda, block ? 2 : 0,
                             block ? 3 : 0, transposed, rng);
          ++bf16Cases;
          if (worst <= 1.0)
            continue;
          ++bf16Failures;
          std::printf("FAIL bf16 %s m=%lld n=%lld k=%lld beta=%g%s: error %g "
                      "of the bound\n",
                      mode == Bf16Gemm::Native ? "native" : "widened",
                      (long long)m, (long long)n, (long long)k, beta,
                      transposed ? " (W packed from W^T)" : "", worst);
        }
  std::printf("bf16 gemm: %d of %d cases within the f32 error bound\n",
              bf16Cases - bf16Failures, bf16Cases);
  return failures + bf16Failures == 0 ? 0 : 1;
}
