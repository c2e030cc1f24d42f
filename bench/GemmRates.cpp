//===- GemmRates.cpp - Single-thread GEMM rates at moa's tile shapes -----===//
//
// usage: moa-gemm-rates
// The runtime's sgemm (runtime/Gemm.h) through each backend on the shapes a
// CPU module's tiles have (128 rows; K and N from the benchmark layers), one
// thread, as the generated code calls it: GFLOP/s, best of five timings of
// enough calls for 0.2 s. The libxsmm column is what moa uses; the best
// rate measured is the ceiling bench/RESULTS.md compares the layer with.
// OpenBLAS' column depends on OPENBLAS_CORETYPE.
//
//===----------------------------------------------------------------------===//

#include "runtime/Gemm.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

using namespace moa::runtime;

static double rate(GemmBackend backend, int64_t m, int64_t k, int64_t n,
                   bool transposeA, bool transposeB) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (std::vector<float> *v : {&a, &b})
    for (float &x : *v)
      x = uniform(rng);
  const int64_t lda = transposeA ? m : k, ldb = transposeB ? k : n;
  auto call = [&] {
    sgemm(backend, transposeA, transposeB, m, n, k, 1.0f, a.data(), lda,
          b.data(), ldb, 0.0f, c.data(), n);
  };
  const double flops = 2.0 * m * n * k;
  const int calls = std::max(1, int(0.2 * 100e9 / flops));
  call();
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i)
      call();
    std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    best = std::max(best, flops * calls / took.count() / 1e9);
  }
  return best;
}

int main() {
  struct Shape {
    int64_t m, k, n;
    bool transposeA, transposeB;
    const char *what;
  };
  const Shape shapes[] = {
      {128, 512, 64, false, false, "query projection, d=512 h=64"},
      {128, 64, 512, false, false, "output projection, h=64 d=512"},
      {128, 1024, 128, false, false, "query projection, d=1024 h=128"},
      {128, 128, 1024, false, false, "output projection, h=128 d=1024"},
      {128, 512, 8, false, false, "router, d=512 E=8"},
      {128, 64, 256, false, true, "attention scores, h=64, 256 keys"},
      {512, 128, 64, true, false, "weight gradient, X^T G"},
      {128, 64, 512, false, true, "input gradient, G W^T"},
      {64, 2048, 32, true, false, "router weight gradient, E=32"},
  };
  std::printf("%-34s %5s %5s %5s %9s %9s\n", "GEMM (one thread)", "m", "k", "n",
              "libxsmm", "OpenBLAS");
  for (const Shape &s : shapes)
    std::printf(
        "%-34s %5lld %5lld %5lld %9.1f %9.1f\n", s.what, (long long)s.m,
        (long long)s.k, (long long)s.n,
        rate(GemmBackend::Xsmm, s.m, s.k, s.n, s.transposeA, s.transposeB),
        rate(GemmBackend::OpenBlas, s.m, s.k, s.n, s.transposeA, s.transposeB));
  std::printf("(GFLOP/s, best of 5)\n");
  std::printf("bf16 kernel / f32 kernel rate at 64x256x128: %.2f; bf16 GEMMs "
              "run %s\n",
              bf16KernelSpeedup(),
              defaultBf16Gemm() == Bf16Gemm::Native ? "natively"
                                                    : "widened to f32");
}
