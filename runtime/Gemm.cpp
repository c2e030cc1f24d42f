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
#include "runtime/Tensor.h"

#include <dlfcn.h>
#include <libxsmm.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <tuple>
#include <vector>

namespace moa::runtime {
namespace {

/// K is cut into chunks of kBlock, N into blocks of kBlock columns where a
/// chunk of B's rows would hold more than kUnblockedFloats (512 KiB, L2).
constexpr int64_t kUnblockedFloats = 128 * 1024;
constexpr int64_t kBlock = 256;

/// cblas_sgemm of OpenBLAS, loaded on first use (most processes never need
/// it: libxsmm does their GEMMs), then told to use one thread, since the
/// generated code calls sgemm from each of its own; null if not installed.
using CblasSgemm = void(int layout, int transA, int transB, int m, int n, int k,
                        float alpha, const float *a, int lda, const float *b,
                        int ldb, float beta, float *c, int ldc);
CblasSgemm *cblasSgemm() {
  static CblasSgemm *sgemm = [] {
    void *blas = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!blas)
      return static_cast<CblasSgemm *>(nullptr);
    if (auto *setThreads = reinterpret_cast<void (*)(int)>(
            dlsym(blas, "openblas_set_num_threads")))
      setThreads(1);
    return reinterpret_cast<CblasSgemm *>(dlsym(blas, "cblas_sgemm"));
  }();
  return sgemm;
}

/// Row-major C = alpha op(A) op(B) + beta C in plain loops, for sizes past
/// OpenBLAS' int or a system without it.
void loopSgemm(bool transposeA, bool transposeB, int64_t m, int64_t n,
               int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += (transposeA ? a[p * lda + i] : a[i * lda + p]) *
               (transposeB ? b[j * ldb + p] : b[p * ldb + j]);
      float &out = c[i * ldc + j];
      out = alpha * sum + (beta == 0.0f ? 0.0f : beta * out);
    }
}

void openBlas(bool transposeA, bool transposeB, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b,
              int64_t ldb, float beta, float *c, int64_t ldc) {
  CblasSgemm *sgemm = cblasSgemm();
  if (!sgemm || std::max({m, n, k, lda, ldb, ldc}) > INT_MAX)
    return loopSgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb,
                     beta, c, ldc);
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112; // cblas.h
  sgemm(kRowMajor, transposeA ? kTrans : kNoTrans,
        transposeB ? kTrans : kNoTrans, int(m), int(n), int(k), alpha, a,
        int(std::max<int64_t>(lda, 1)), b, int(std::max<int64_t>(ldb, 1)), beta,
        c, int(std::max<int64_t>(ldc, 1)));
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
/// With `prefetchB` the kernel takes three more pointers and, as it reads
/// B, prefetches the first of them into L2 (libxsmm's AL2 strategy).
libxsmm_smmfunction xsmmKernel(bool transposeA, int64_t m, int64_t n, int64_t k,
                               int64_t lda, int64_t ldb, int64_t ldc,
                               float beta, bool prefetchB = false) {
  const libxsmm_blasint mm = n, nn = m, kk = k, ldA = ldb, ldB = lda, ldC = ldc;
  const float one = 1.0f;
  const int flags = transposeA ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
  const int prefetch =
      prefetchB ? LIBXSMM_GEMM_PREFETCH_AL2 : LIBXSMM_GEMM_PREFETCH_NONE;
  return libxsmm_smmdispatch(mm, nn, kk, &ldA, &ldB, &ldC, &one, &beta, &flags,
                             &prefetch);
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

/// The blocks of B [k x n] (see kBlock).
struct Blocking {
  int64_t blockK, blockN;
  Blocking(int64_t k, int64_t n)
      : blockK(std::min(k, kBlock)),
        blockN(blockK * n <= kUnblockedFloats ? n : std::min(n, kBlock)) {}
};

/// C = sum over the blocks (j, p) of B (column j, row p, cols x depth) of
/// A's columns p.. times the block, + beta C, with the kernels that
/// `block(run, j, p, cols, depth, out, ldOut, betaOut)` looks up (run
/// false; false if there is none) and runs (run true). False, C untouched,
/// if a kernel is missing or there is no memory for the scratch block.
template <typename Block>
bool blockedProduct(int64_t m, int64_t n, int64_t k, float beta, float *c,
                    int64_t ldc, Block block) {
  // A kernel sums its K terms in one chain per element, whose rounding error
  // grows with sqrt(K) (4x OpenBLAS' at K = 2048). So K goes in chunks: the
  // first into C, each further one into a scratch block added to C, which
  // keeps the error at OpenBLAS' level for little more traffic.
  const Blocking blocks(k, n);
  const int64_t blockK = blocks.blockK;
  thread_local std::vector<float> partial;
  if (k > blockK && !resized(partial, m * blocks.blockN))
    return false;
  // All kernels are looked up before any runs (the second lookup of each is
  // a hash in libxsmm's registry).
  for (bool run : {false, true})
    for (int64_t j = 0; j < n; j += blocks.blockN)
      for (int64_t p = 0; p < k; p += blockK) {
        const int64_t cols = std::min(blocks.blockN, n - j);
        const bool first = p == 0;
        float *out = first ? c + j : partial.data();
        if (!block(run, j, p, cols, std::min(blockK, k - p), out,
                   first ? ldc : cols, first ? beta : 0.0f))
          return false;
        if (run && !first)
          for (int64_t i = 0; i < m; ++i)
            for (int64_t jj = 0; jj < cols; ++jj)
              c[i * ldc + j + jj] += partial[i * cols + jj];
      }
  return true;
}

/// C = alpha op(A) op(B) + beta C in blocks of B; false, C untouched, if
/// libxsmm lacks a kernel for one of them (or there is no memory for the
/// two scratch blocks of the thread). `nextB` as sgemm's.
bool xsmmBlocked(bool transposeA, bool transposeB, int64_t m, int64_t n,
                 int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 const float *nextB = nullptr) {
  // libxsmm's kernels take B as it is and alpha = 1: otherwise each block of
  // B becomes alpha * op(B) in a scratch block first.
  const bool direct = !transposeB && alpha == 1.0f;
  // Each block of B read in place prefetches the same block of nextB.
  const bool prefetch = direct && nextB && nextB != b;
  const Blocking blocks(k, n);
  thread_local std::vector<float> panel;
  if (!direct && !resized(panel, blocks.blockK * blocks.blockN))
    return false;
  return blockedProduct(
      m, n, k, beta, c, ldc,
      [&](bool run, int64_t j, int64_t p, int64_t cols, int64_t depth,
          float *out, int64_t ldOut, float betaOut) {
        libxsmm_smmfunction kernel =
            xsmmKernel(transposeA, m, cols, depth, lda, direct ? ldb : cols,
                       ldOut, betaOut, prefetch);
        if (!kernel || !run)
          return kernel != nullptr;
        const int64_t bOffset = transposeB ? j * ldb + p : p * ldb + j;
        const float *bBlock = b + bOffset;
        if (!direct) {
          copyScaled(transposeB, depth, cols, alpha, bBlock, ldb, panel.data());
          bBlock = panel.data();
        }
        // A's block starts at column p (row p when A is transposed).
        const float *aBlock = transposeA ? a + p * lda : a + p;
        if (prefetch)
          kernel(bBlock, aBlock, out, nextB + bOffset, aBlock, out);
        else
          kernel(bBlock, aBlock, out);
        return true;
      });
}

/// Where packBf16's Native form keeps W's row p, column j: in pair p / 2 of
/// rows, which holds (row p, row p + 1) per column.
int64_t vnniIndex(int64_t n, int64_t p, int64_t j) {
  return p / 2 * 2 * n + 2 * j + p % 2;
}

/// The block's first element in packBf16's Native form: pair
/// firstRow / 2 of rows starts at firstRow * columns (firstRow is even).
const uint16_t *vnniBase(const PackedBf16 &w) {
  return reinterpret_cast<const uint16_t *>(w.packed) + w.firstRow * w.columns +
         2 * w.firstColumn;
}

/// The block's first element in the Widened form (leading dimension
/// columns).
const float *wideBase(const PackedBf16 &w) {
  return w.packed + w.firstRow * w.columns + w.firstColumn;
}

/// The block's element (p, j) as packBf16 packed it in `mode`.
float packedAt(Bf16Gemm mode, const PackedBf16 &w, int64_t p, int64_t j) {
  return mode == Bf16Gemm::Widened
             ? wideBase(w)[p * w.columns + j]
             : bf16ToFloat(vnniBase(w)[vnniIndex(w.columns, p, j)]);
}

/// bf16Gemm in plain loops, where there is no memory for scratch.
void loopBf16(Bf16Gemm mode, int64_t m, int64_t n, int64_t k, const uint16_t *a,
              int64_t lda, const PackedBf16 &w, float beta, float *c,
              int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += bf16ToFloat(a[i * lda + p]) * packedAt(mode, w, p, j);
      float &out = c[i * ldc + j];
      out = sum + (beta == 0.0f ? 0.0f : out);
    }
}

/// C = A W + beta C on libxsmm's AVX512-BF16 kernels, W a block of a weight
/// in pairs of rows (see vnniIndex); false, C untouched, if libxsmm has no
/// kernel. The kernels take K in pairs, so an odd K's last row is added
/// after them; they read A in pairs too, and an odd lda gives wrong sums
/// (measured), so that is no kernel either.
bool xsmmBf16(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda,
              const PackedBf16 &w, float beta, float *c, int64_t ldc) {
  const int64_t pairs = k / 2 * 2, ldw = w.columns;
  const uint16_t *vnni = vnniBase(w);
  if (lda % 2 != 0)
    return false;
  if (pairs > 0 &&
      !blockedProduct(
          m, n, pairs, beta, c, ldc, // chunks of 256 rows: whole pairs
          [&](bool run, int64_t j, int64_t p, int64_t cols, int64_t depth,
              float *out, int64_t ldOut, float betaOut) {
            // Column-major, as xsmmKernel: C^T = W^T A^T, W^T in VNNI form.
            const libxsmm_blasint mm = cols, nn = m, kk = depth, ldA = ldw,
                                  ldB = lda, ldC = ldOut;
            const float one = 1.0f;
            const int flags = LIBXSMM_GEMM_FLAG_VNNI_A;
            libxsmm_bsmmfunction kernel = libxsmm_bsmmdispatch(
                mm, nn, kk, &ldA, &ldB, &ldC, &one, &betaOut, &flags, nullptr);
            if (!kernel || !run)
              return kernel != nullptr;
            kernel(reinterpret_cast<const libxsmm_bfloat16 *>(vnni + p * ldw +
                                                              2 * j),
                   reinterpret_cast<const libxsmm_bfloat16 *>(a + p), out);
            return true;
          }))
    return false;
  if (pairs == k)
    return true;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float &out = c[i * ldc + j];
      const float product = bf16ToFloat(a[i * lda + pairs]) *
                            bf16ToFloat(vnni[vnniIndex(ldw, pairs, j)]);
      out = (pairs == 0 && beta == 0.0f ? 0.0f : out) + product;
    }
  return true;
}

/// B of at most this many columns (the router's logits: N = E) is
/// multiplied by narrowSgemm: libxsmm's kernels span C's columns with their
/// vectors and run such shapes at 9-11 GFLOP/s (measured, N = 8, K = 512).
constexpr int64_t kNarrowColumns = 16;
/// Columns of C one pass of dotRows computes.
constexpr int64_t kDotColumns = 8;
using Floats16 = float __attribute__((vector_size(64)));
using Lanes16 = int32_t __attribute__((vector_size(64)));

/// out[j] = the sum of the 16 lanes of v[j], j < 8: halving the lanes of
/// two vectors at a time into one.
inline void laneSums(const Floats16 *v, float *out) {
  auto fold = [](Floats16 x, Floats16 y, Lanes16 lower, Lanes16 upper) {
    return __builtin_shuffle(x, y, lower) + __builtin_shuffle(x, y, upper);
  };
  Floats16 halves[4], quarters[2];
  for (int i = 0; i < 4; ++i) // lanes 0-7: v[2i] halved, 8-15: v[2i + 1]
    halves[i] = fold(
        v[2 * i], v[2 * i + 1],
        Lanes16{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
        Lanes16{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31});
  for (int i = 0; i < 2; ++i) // four lanes each of v[4i .. 4i + 3]
    quarters[i] = fold(
        halves[2 * i], halves[2 * i + 1],
        Lanes16{0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27},
        Lanes16{4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31});
  Floats16 pairs = fold( // two lanes each of v[0 .. 7]
      quarters[0], quarters[1],
      Lanes16{0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
      Lanes16{2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31});
  Floats16 sums = fold(
      pairs, pairs, Lanes16{0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0},
      Lanes16{1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0});
  std::memcpy(out, &sums, kDotColumns * sizeof(float));
}

/// sums[i][j] = A's row i . row j of bt ([8 x k]), i < m: 16 terms of a dot
/// product per vector, then the lanes summed (FMA-bound: bt stays in L1).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",
                             "default"))) void
dotRows(int64_t m, int64_t k, const float *a, int64_t lda, const float *bt,
        float *sums) {
  const int64_t vectorTerms = k / 16 * 16;
  for (int64_t i = 0; i < m; ++i) {
    const float *row = a + i * lda;
    Floats16 acc[kDotColumns] = {};
    for (int64_t p = 0; p < vectorTerms; p += 16) {
      Floats16 x, w;
      std::memcpy(&x, row + p, sizeof(x));
      for (int64_t j = 0; j < kDotColumns; ++j) {
        std::memcpy(&w, bt + j * k + p, sizeof(w));
        acc[j] += x * w;
      }
    }
    float *out = sums + i * kDotColumns;
    laneSums(acc, out);
    for (int64_t p = vectorTerms; p < k; ++p)
      for (int64_t j = 0; j < kDotColumns; ++j)
        out[j] += row[p] * bt[j * k + p];
  }
}

/// Row-major C = alpha A B + beta C for B [k x n] with n <= kNarrowColumns,
/// as dot products along K with B transposed (eight columns at a time, in
/// the thread's scratch); false, C untouched, without memory for that.
bool narrowSgemm(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
  thread_local std::vector<float> bt, sums;
  if (!resized(bt, kDotColumns * k) || !resized(sums, m * kDotColumns))
    return false;
  for (int64_t j0 = 0; j0 < n; j0 += kDotColumns) {
    const int64_t cols = std::min(kDotColumns, n - j0);
    for (int64_t j = 0; j < kDotColumns; ++j) // zero rows past n
      for (int64_t p = 0; p < k; ++p)
        bt[j * k + p] = j < cols ? b[p * ldb + j0 + j] : 0.0f;
    dotRows(m, k, a, lda, bt.data(), sums.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        float &out = c[i * ldc + j0 + j];
        out = alpha * sums[i * kDotColumns + j] +
              (beta == 0.0f ? 0.0f : beta * out);
      }
  }
  return true;
}

/// Row-major C = alpha A^T B + beta C for A [k x m] and B [k x n] with
/// n <= kNarrowColumns (a router's weight gradient, X^T dLogits), as
/// C^T = B^T A in one NN product into the thread's scratch, then added to
/// C transposed: libxsmm's kernels vectorise along m there, where the
/// product as given spans C's few columns with their vectors (measured
/// 19-30 GFLOP/s at n = 8); false, C untouched, without a kernel or memory.
bool narrowTransposedA(int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb,
                       float beta, float *c, int64_t ldc) {
  thread_local std::vector<float> bt, ct;
  if (!resized(bt, n * k) || !resized(ct, n * m))
    return false;
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j)
      bt[j * k + p] = b[p * ldb + j];
  if (!xsmmBlocked(false, false, n, m, k, 1.0f, bt.data(), k, a, lda, 0.0f,
                   ct.data(), m))
    return false;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float &out = c[i * ldc + j];
      out = alpha * ct[j * m + i] + (beta == 0.0f ? 0.0f : beta * out);
    }
  return true;
}

void unprofiledSgemm(GemmBackend backend, bool transposeA, bool transposeB,
                     int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc,
                     const float *nextB = nullptr) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) { // BLAS would leave C alone for beta = 1 only
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  const bool fits = std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX;
  if (backend == GemmBackend::Xsmm && !transposeB && n <= kNarrowColumns &&
      (transposeA ? fits && narrowTransposedA(m, n, k, alpha, a, lda, b, ldb,
                                              beta, c, ldc)
                  : narrowSgemm(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)))
    return;
  if (backend == GemmBackend::Xsmm && fits && (beta == 0.0f || beta == 1.0f) &&
      xsmmBlocked(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta,
                  c, ldc, nextB))
    return;
  openBlas(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c,
           ldc);
}

/// How much faster bf16Gemm's Native mode must multiply than f32 to be
/// chosen.
constexpr double kNativeBf16Margin = 1.3;

} // namespace

double bf16KernelSpeedup() {
  constexpr int64_t m = 64, n = 128, k = 256;
  std::vector<float> a(m * k), w(k * n), c(m * n), packed(k * n);
  std::vector<uint16_t> a16(m * k), w16(k * n);
  for (int64_t i = 0; i < m * k; ++i)
    a16[i] = uint16_t(0x3f00 + (i * 37 % 251)); // 0.5 to 1.0
  for (int64_t i = 0; i < k * n; ++i)
    w16[i] = uint16_t(0x3f00 + (i * 53 % 241));
  for (int64_t i = 0; i < m * k; ++i)
    a[i] = bf16ToFloat(a16[i]);
  for (int64_t i = 0; i < k * n; ++i)
    w[i] = bf16ToFloat(w16[i]);
  packBf16(Bf16Gemm::Native, n, w16.data(), n, 0, k, packed.data());
  auto best = [](auto product) -> double {
    double fastest = INFINITY;
    for (int round = 0; round < 5; ++round) {
      auto start = std::chrono::steady_clock::now();
      for (int call = 0; call < 8; ++call)
        if (!product())
          return INFINITY;
      std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start;
      fastest = std::min(fastest, took.count());
    }
    return fastest;
  };
  const double f32 = best([&] {
    return xsmmBlocked(false, false, m, n, k, 1.0f, a.data(), k, w.data(), n,
                       0.0f, c.data(), n);
  });
  const double bf16 = best([&] {
    return xsmmBf16(m, n, k, a16.data(), k, {packed.data(), n}, 0.0f, c.data(),
                    n);
  });
  return std::isfinite(f32) && std::isfinite(bf16) ? f32 / bf16 : 0.0;
}

namespace {

/// MOA_GEMM_PROFILE=1: the time of every GEMM, summed per shape and printed
/// to stderr at exit, most time first. The time is the calling thread's
/// wall time inside sgemm, so a shape's rate is per thread, comparable with
/// the single-thread ceiling of bench/GemmRates.cpp.
class GemmProfile {
public:
  /// The process's profile; null unless MOA_GEMM_PROFILE is 1.
  static GemmProfile *get() {
    static GemmProfile *profile = [] {
      const char *value = std::getenv("MOA_GEMM_PROFILE");
      return value && std::strcmp(value, "1") == 0 ? new GemmProfile : nullptr;
    }();
    return profile;
  }

  /// One call of `op` ("NN", "NT", "TN", "TT": sgemm's transposes of A
  /// and B; "BF": bf16Gemm).
  void add(std::string op, int64_t m, int64_t n, int64_t k, double seconds) {
    std::lock_guard<std::mutex> lock(mutex);
    Sum &sum = sums[{std::move(op), m, n, k}];
    ++sum.calls;
    sum.seconds += seconds;
  }

private:
  using Shape = std::tuple<std::string, int64_t, int64_t, int64_t>;
  struct Sum {
    int64_t calls = 0;
    double seconds = 0;
  };

  GemmProfile() {
    std::atexit([] { get()->print(); });
  }

  void print() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::pair<Shape, Sum>> rows(sums.begin(), sums.end());
    std::sort(rows.begin(), rows.end(), [](const auto &x, const auto &y) {
      return x.second.seconds > y.second.seconds;
    });
    std::fprintf(stderr,
                 "moa GEMM profile, per shape (op: A and B, N or T; BF: "
                 "bf16):\n"
                 "%8s %6s %6s %6s %3s %10s %10s %9s\n",
                 "calls", "m", "n", "k", "op", "GFLOP", "ms", "GFLOP/s");
    double flops = 0, seconds = 0;
    for (const auto &[shape, sum] : rows) {
      const auto &[op, m, n, k] = shape;
      const double shapeFlops = 2.0 * m * n * k * sum.calls;
      flops += shapeFlops;
      seconds += sum.seconds;
      std::fprintf(stderr, "%8lld %6lld %6lld %6lld  %s %10.3f %10.3f %9.1f\n",
                   (long long)sum.calls, (long long)m, (long long)n,
                   (long long)k, op.c_str(), shapeFlops / 1e9,
                   sum.seconds * 1e3, shapeFlops / sum.seconds / 1e9);
    }
    std::fprintf(stderr,
                 "all GEMMs: %.3f GFLOP in %.3f ms of thread time, %.1f "
                 "GFLOP/s per thread\n",
                 flops / 1e9, seconds * 1e3,
                 seconds > 0 ? flops / seconds / 1e9 : 0.0);
  }

  std::mutex mutex;
  std::map<Shape, Sum> sums;
};

} // namespace

GemmBackend defaultGemmBackend() {
  const char *choice = std::getenv("MOA_GEMM");
  return choice && std::strcmp(choice, "openblas") == 0 ? GemmBackend::OpenBlas
                                                        : GemmBackend::Xsmm;
}

/// `gemm()`, timed into the profile as `op` where there is one.
template <typename Gemm>
void profiled(const char *op, int64_t m, int64_t n, int64_t k, Gemm gemm) {
  GemmProfile *profile = GemmProfile::get();
  if (!profile)
    return gemm();
  auto start = std::chrono::steady_clock::now();
  gemm();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  profile->add(op, m, n, k, took.count());
}

void sgemm(GemmBackend backend, bool transposeA, bool transposeB, int64_t m,
           int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
           const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
           const float *nextB) {
  const char *ops[2][2] = {{"NN", "NT"}, {"TN", "TT"}};
  profiled(ops[transposeA][transposeB], m, n, k, [&] {
    unprofiledSgemm(backend, transposeA, transposeB, m, n, k, alpha, a, lda, b,
                    ldb, beta, c, ldc, nextB);
  });
}

Bf16Gemm defaultBf16Gemm() {
  const char *choice = std::getenv("MOA_GEMM_BF16");
  if (defaultGemmBackend() == GemmBackend::OpenBlas ||
      libxsmm_get_target_archid() < LIBXSMM_X86_AVX512_CPX ||
      (choice && std::strcmp(choice, "widen") == 0))
    return Bf16Gemm::Widened;
  if (choice && std::strcmp(choice, "native") == 0)
    return Bf16Gemm::Native;
  // CPUs with AVX512-BF16 differ: on the Xeons measured vdpbf16ps retires at
  // half the rate of f32 FMAs (libxsmm's bf16 kernels 87 GFLOP/s against
  // 151-175), on AMD Zen 4 at twice it (225 against 106). So the kernels
  // race once per process, and bf16 runs natively only by a clear margin,
  // which keeps the choice the same from run to run on either kind.
  return bf16KernelSpeedup() >= kNativeBf16Margin ? Bf16Gemm::Native
                                                  : Bf16Gemm::Widened;
}

namespace {

/// Rows of a 16 x 16 block of 32-bit words.
constexpr int64_t kWordBlock = 16;

/// One round of transposeWordBlock: row a (bit `Bit` clear) keeps its
/// columns with the bit clear and takes row a + Bit's there; row a + Bit
/// the other way round.
template <int Bit> void swapIndexBit(Lanes16 *rows) {
  constexpr auto masks = [] {
    std::array<std::array<int32_t, kWordBlock>, 2> m{};
    for (int c = 0; c < kWordBlock; ++c) {
      m[0][c] = c & Bit ? kWordBlock + c - Bit : c;
      m[1][c] = c & Bit ? kWordBlock + c : c + Bit;
    }
    return m;
  }();
  auto lanes = [](const std::array<int32_t, kWordBlock> &m) {
    return Lanes16{m[0], m[1], m[2],  m[3],  m[4],  m[5],  m[6],  m[7],
                   m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]};
  };
  for (int a = 0; a < kWordBlock; ++a)
    if (!(a & Bit)) {
      const Lanes16 x = rows[a], y = rows[a + Bit];
      rows[a] = __builtin_shuffle(x, y, lanes(masks[0]));
      rows[a + Bit] = __builtin_shuffle(x, y, lanes(masks[1]));
    }
}

/// out row r = column r of the 16 x 16 block of words whose row c starts
/// at in + c * ldIn (unaligned; ldIn in uint16s), out's rows ldOut words
/// apart: four rounds of two-input shuffles (vpermt2d on AVX-512), each
/// swapping one bit of the row index with the same bit of the column index.
void transposeWordBlock(const uint16_t *in, int64_t ldIn, uint32_t *out,
                        int64_t ldOut) {
  Lanes16 rows[kWordBlock];
  for (int64_t c = 0; c < kWordBlock; ++c)
    std::memcpy(&rows[c], in + c * ldIn, sizeof(Lanes16));
  swapIndexBit<1>(rows);
  swapIndexBit<2>(rows);
  swapIndexBit<4>(rows);
  swapIndexBit<8>(rows);
  for (int64_t r = 0; r < kWordBlock; ++r)
    std::memcpy(out + r * ldOut, &rows[r], sizeof(Lanes16));
}

} // namespace

void packBf16(Bf16Gemm mode, int64_t n, const uint16_t *w, int64_t ldw,
              int64_t first, int64_t count, float *packed, bool transposed) {
  const int64_t end = first + count;
  auto at = [&](int64_t p, int64_t j) -> uint32_t {
    return transposed ? w[j * ldw + p] : w[p * ldw + j];
  };
  // visit(p, j) for W's rows p in [first, end) by `step`, in an order that
  // reads w along its rows and writes `packed` in runs: where W is w^T, in
  // tiles of kRows rows of w (their cache lines stay in L1 while the tile's
  // columns are written out one run of kRows per W row). Column by column
  // it cost 3.6 ns per element (the writes kRows apart in one cache set),
  // 7% of the mixed-precision training step.
  constexpr int64_t kRows = 16;
  auto forEach = [&](int64_t step, auto visit) {
    if (!transposed) {
      for (int64_t p = first; p < end; p += step)
        for (int64_t j = 0; j < n; ++j)
          visit(p, j);
      return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += kRows)
      for (int64_t p = first; p < end; p += step)
        for (int64_t j = j0; j < std::min(j0 + kRows, n); ++j)
          visit(p, j);
  };
  if (mode == Bf16Gemm::Widened)
    return forEach(1, [&](int64_t p, int64_t j) {
      packed[p * n + j] = bf16ToFloat(uint16_t(at(p, j)));
    });
  // Pairs of rows (p, p + 1) as one 32-bit word per column (vnniIndex);
  // the second row of an odd K's last pair is 0.
  auto *pairs = reinterpret_cast<uint32_t *>(packed);
  const int64_t evenEnd = first + count / 2 * 2;
  if (transposed) { // the pair is two adjacent bf16 of w's row j: one word
    // So the packing is a transpose of words: whole blocks of 16 x 16 by
    // vector shuffles (0.3-0.4 ns per element word by word), the edges below.
    const int64_t blockEnd =
        first + (evenEnd - first) / (2 * kWordBlock) * (2 * kWordBlock);
    const int64_t blockColumns = n / kWordBlock * kWordBlock;
    for (int64_t j = 0; j < blockColumns; j += kWordBlock)
      for (int64_t p = first; p < blockEnd; p += 2 * kWordBlock)
        transposeWordBlock(w + j * ldw + p, ldw, pairs + p / 2 * n + j, n);
    auto word = [&](int64_t p, int64_t j) {
      uint32_t pair = at(p, j);
      if (p < evenEnd)
        std::memcpy(&pair, w + j * ldw + p, sizeof(pair));
      pairs[p / 2 * n + j] = pair;
    };
    for (int64_t p = first; p < end; p += 2) // the columns past the blocks
      for (int64_t j = blockColumns; j < n; ++j)
        word(p, j);
    for (int64_t p = blockEnd; p < end; p += 2) // the rows past them
      for (int64_t j = 0; j < blockColumns; ++j)
        word(p, j);
  } else
    forEach(2, [&](int64_t p, int64_t j) {
      pairs[p / 2 * n + j] = at(p, j) | (p < evenEnd ? at(p + 1, j) << 16 : 0);
    });
}

void bf16Gemm(Bf16Gemm mode, GemmBackend backend, int64_t m, int64_t n,
              int64_t k, const uint16_t *a, int64_t lda, const PackedBf16 &w,
              float beta, float *c, int64_t ldc) {
  profiled("BF", m, n, k, [&] {
    if (mode == Bf16Gemm::Native &&
        std::max({m, n, k, lda, ldc, w.columns}) <= INT_MAX &&
        xsmmBf16(m, n, k, a, lda, w, beta, c, ldc))
      return;
    // Widened (or no kernel): A in f32 scratch, W as packBf16 widened it,
    // or widened here from the pairs.
    thread_local std::vector<float> wideA, wideW;
    const bool unpack = mode == Bf16Gemm::Native;
    if (!resized(wideA, m * k) || (unpack && !resized(wideW, k * n)))
      return loopBf16(mode, m, n, k, a, lda, w, beta, c, ldc);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p)
        wideA[i * k + p] = bf16ToFloat(a[i * lda + p]);
    if (unpack)
      for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j)
          wideW[p * n + j] = packedAt(mode, w, p, j);
    unprofiledSgemm(backend, false, false, m, n, k, 1.0f, wideA.data(), k,
                    unpack ? wideW.data() : wideBase(w), unpack ? n : w.columns,
                    beta, c, ldc);
  });
}

} // namespace moa::runtime
