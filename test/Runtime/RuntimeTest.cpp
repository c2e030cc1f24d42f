//===- RuntimeTest.cpp - One module, many threads -------------------------===//
//
// usage: moa-runtime-test MODULE
// Runs the entry `moa_layer` (examples/moa_layer.mlir) on four inputs of
// different shapes, first one after another, then from four threads at once,
// twenty times each, and checks every concurrent result is bit-identical to
// the sequential one (kernels are deterministic whatever the threads).
//
//===----------------------------------------------------------------------===//

#include "runtime/Runtime.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

using namespace moa;
using namespace moa::runtime;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODULE\n", argv[0]);
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
  return bad ? 1 : 0;
}
