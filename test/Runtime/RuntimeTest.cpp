//===- RuntimeTest.cpp - One module, many threads -------------------------===//
//
// usage: moa-runtime-test MODULE [ENTRIES]
//        moa-runtime-test --idle MODULE
// Runs the entry `moa_layer` (examples/moa_layer.mlir) on four inputs of
// different shapes, first one after another, then from four threads at once,
// twenty times each, and checks every concurrent result is bit-identical to
// the sequential one (kernels are deterministic whatever the threads).
// With ENTRIES (test/Runtime/Inputs/entries.mlir compiled), then runs its
// `outer` fifty times under an address-space limit so that each call fails
// for memory after allocating 4 MB: the calls report it and the heap does
// not grow (what a failed call had allocated is freed).
// With ENTRIES, first runs its `outer` on values whose products are
// denormal: they come out as zeros (a call flushes denormals), and the
// caller's floating-point mode is the same after the call as before.
// With --idle, runs `moa_layer` twenty times, each followed by 20 ms of
// sleep, and checks that the module's threads spent under 5 ms of CPU time
// in all the sleeps together (they sleep when a call returns; with
// KMP_BLOCKTIME=50 in the environment they spin and it fails).
//
//===----------------------------------------------------------------------===//

#include "runtime/Runtime.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <malloc.h>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <vector>
#include <xmmintrin.h>

using namespace moa;
using namespace moa::runtime;

/// The module at `path`, or null with the error printed.
static std::unique_ptr<Module> load(const char *path) {
  std::string error;
  std::unique_ptr<Module> module = Module::load(path, error);
  if (!module)
    std::fprintf(stderr, "%s\n", error.c_str());
  return module;
}

/// `outer` (of test/Runtime/Inputs/entries.mlir) on two vectors of 10^6: 4
/// MB for x + x, then 4 TB for the product, which the limit makes fail every
/// time.
static int failingCallsFreeTheirBuffers(const Module &module) {
  std::string error;
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
    reported += !module.run("outer", inputs, out, error) &&
                error.find("out of memory") != std::string::npos;
  const size_t after = mallinfo2().uordblks;
  const bool kept = after > before && after - before >= (size_t(4) << 20);
  std::printf("outer: %d of 50 calls reported out of memory, heap grew by %s\n",
              reported, kept ? "4 MB or more" : "less than 4 MB");
  return reported == 50 && !kept ? 0 : 1;
}

/// `outer` on x = [1e-20, 1], y = [1e-20, 1]: 2e-40 (denormal) must come
/// out as 0 and 2 as 2; the caller's MXCSR must be unchanged and still
/// compute denormals after the call.
static int denormalsFlushedWithinCalls(const Module &module) {
  std::string error;
  std::vector<Tensor> inputs;
  for (int i = 0; i < 2; ++i) {
    Tensor &v = inputs.emplace_back(DType::F32, std::vector<int64_t>{2});
    v.set(0, 1e-20f);
    v.set(1, 1.0f);
  }
  std::vector<Tensor> out;
  const unsigned before = _mm_getcsr();
  if (!module.run("outer", inputs, out, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const unsigned after = _mm_getcsr();
  volatile float tiny = 1e-20f;
  const float product = tiny * 2e-20f;
  const float *r = out[0].as<float>();
  const bool flushed = r[0] == 0.0f && r[3] == 2.0f;
  const bool restored = before == after && product != 0.0f;
  std::printf("outer: denormal products %s; caller's floating-point mode %s\n",
              flushed ? "flushed to zero" : "kept",
              restored ? "unchanged" : "changed");
  return flushed && restored ? 0 : 1;
}

static double processCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

/// Twenty calls of `moa_layer` on `inputs`, each followed by 20 ms of sleep:
/// the CPU time the process spends in the sleeps.
static int threadsSleepBetweenCalls(const Module &module,
                                    const std::vector<Tensor> &inputs) {
  double idleCpu = 0;
  for (int call = 0; call < 20; ++call) {
    std::vector<Tensor> out;
    std::string error;
    if (!module.run("moa_layer", inputs, out, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    const double before = processCpuSeconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    idleCpu += processCpuSeconds() - before;
  }
  const bool asleep = idleCpu < 5e-3;
  std::printf("between calls: %s\n",
              asleep ? "threads asleep (under 5 ms of CPU in 400 ms)"
                     : "threads spinning");
  if (!asleep)
    std::printf("  %.1f ms of CPU in 400 ms of sleep\n", idleCpu * 1e3);
  return asleep ? 0 : 1;
}

int main(int argc, char **argv) {
  const bool idle = argc == 3 && std::strcmp(argv[1], "--idle") == 0;
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s [--idle] MODULE [ENTRIES]\n", argv[0]);
    return 2;
  }
  std::string error;
  std::unique_ptr<Module> module = load(argv[idle ? 2 : 1]);
  if (!module)
    return 1;
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
  if (idle)
    return threadsSleepBetweenCalls(*module, inputs[2]);

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
  if (argc != 3)
    return 0;
  std::unique_ptr<Module> entries = load(argv[2]);
  if (!entries || denormalsFlushedWithinCalls(*entries) != 0)
    return 1;
  return failingCallsFreeTheirBuffers(*entries);
}
