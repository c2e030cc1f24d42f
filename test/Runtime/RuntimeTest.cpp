//===- RuntimeTest.cpp - One module, many threads -------------------------===//
//
// usage: moa-runtime-test MODULE [ENTRIES]
// Runs the entry `moa_layer` (examples/moa_layer.mlir) on four inputs of
// different shapes, first one after another, then from four threads at once,
// twenty times each, and checks every concurrent result is bit-identical to
// the sequential one (kernels are deterministic whatever the threads).
// With ENTRIES (test/Runtime/Inputs/entries.mlir compiled), then runs its
// `outer` fifty times under an address-space limit so that each call fails
// for memory after allocating 4 MB: the calls report it and the heap does
// not grow (what a failed call had allocated is freed).
//
//===----------------------------------------------------------------------===//

#include "runtime/Runtime.h"

#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace moa;
using namespace moa::runtime;

/// The `outer` entry of `path` on two vectors of 10^6: 4 MB for x + x,
/// then 4 TB for the product, which the limit makes fail every time.
static int failingCallsFreeTheirBuffers(const char *path) {
  std::string error;
  std::unique_ptr<Module> module = Module::load(path, error);
  if (!module) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::vector<Tensor> inputs;
  for (int i = 0; i < 2; ++i) {
    Tensor &v = inputs.emplace_back(DType::F32, std::vector<int64_t>{1000000});
    for (int64_t e = 0; e < v.numElements(); ++e)
      v.set(e, 0.5f);
  }
#ifndef __SANITIZE_ADDRESS__
  // AddressSanitizer needs the address space for its shadow; its allocator
  // refuses 4 TB by itself (allocator_may_return_null=1, test/lit.cfg.py).
  rlimit limit{size_t(8) << 30, size_t(8) << 30};
  if (setrlimit(RLIMIT_AS, &limit) != 0) {
    std::perror("setrlimit");
    return 1;
  }
#endif
  std::vector<Tensor> out;
  const size_t before = mallinfo2().uordblks;
  int reported = 0;
  for (int call = 0; call < 50; ++call)
    reported += !module->run("outer", inputs, out, error) &&
                error.find("out of memory") != std::string::npos;
  const size_t after = mallinfo2().uordblks;
  const bool kept = after > before && after - before >= (size_t(4) << 20);
  std::printf("outer: %d of 50 calls reported out of memory, heap grew by %s\n",
              reported, kept ? "4 MB or more" : "less than 4 MB");
  return reported == 50 && !kept ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s MODULE [ENTRIES]\n", argv[0]);
    return 2;
  }
  std::string error;
  std::unique_ptr<Module> module = Module::load(argv[1], error);
  if (!module) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const EntrySpec *entry = module->findEntry("moa_layer");
  if (!entry) {
    std::fprintf(stderr, "no moa_layer\n");
    return 1;
  }
  const int shapes[4][2] = {{1, 3}, {2, 17}, {3, 64}, {4, 9}};
  std::vector<std::vector<Tensor>> inputs(4);
  std::vector<std::vector<Tensor>> expected(4);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int c = 0; c < 4; ++c) {
    for (const TensorSpec &spec : entry->arguments) {
      std::vector<int64_t> shape = spec.shape;
      for (size_t d = 0; d < shape.size(); ++d)
        if (shape[d] < 0)
          shape[d] = shapes[c][d];
      Tensor t(spec.dtype, shape);
      for (int64_t i = 0; i < t.numElements(); ++i)
        t.set(i, uniform(rng));
      inputs[c].push_back(std::move(t));
    }
    if (!module->run("moa_layer", inputs[c], expected[c], error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
  }

  std::vector<int> mismatches(4, 0), failures(4, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c)
    threads.emplace_back([&, c] {
      for (int iteration = 0; iteration < 20; ++iteration) {
        std::vector<Tensor> out;
        std::string threadError;
        if (!module->run("moa_layer", inputs[c], out, threadError)) {
          ++failures[c];
          continue;
        }
        if (out[0].shape() != expected[c][0].shape() ||
            std::memcmp(out[0].data(), expected[c][0].data(),
                        out[0].byteSize()) != 0)
          ++mismatches[c];
      }
    });
  for (std::thread &t : threads)
    t.join();
  int bad = 0;
  for (int c = 0; c < 4; ++c) {
    std::printf("thread %d, shape [%d, %d, 256]: %d runs failed, %d differ\n",
                c, shapes[c][0], shapes[c][1], failures[c], mismatches[c]);
    bad += failures[c] + mismatches[c];
  }
  std::printf("%s\n", bad ? "FAILED" : "all concurrent results identical");
  if (bad)
    return 1;
  return argc == 3 ? failingCallsFreeTheirBuffers(argv[2]) : 0;
}
