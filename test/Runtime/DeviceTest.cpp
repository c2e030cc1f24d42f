//===- DeviceTest.cpp - Device tensors through the runtime ----------------===//
//
// usage: moa-device-test GPU_MODULE CPU_MODULE
// GPU_MODULE is test/Runtime/Inputs/device-entries.mlir compiled for the GPU
// (on the emulator, so that values can be checked), CPU_MODULE the same for
// the CPU. Checks that each entry gives on device tensors bit for bit what
// it gives on host tensors, that device inputs are not written, that a
// donated device tensor is updated in place (the result has its address)
// while a non-donated one is left alone, that device tensors outlive their
// module, and that device tensors in the wrong place are rejected with a
// message.
//
//===----------------------------------------------------------------------===//

#include "runtime/Runtime.h"

#include <cstdio>
#include <cstring>
#include <random>

using namespace moa;
using namespace moa::runtime;

namespace {
int failures = 0;

void expect(bool ok, const std::string &what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  failures += !ok;
}

Tensor randomTensor(std::vector<int64_t> shape, std::mt19937 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Tensor t(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.set(i, uniform(rng));
  return t;
}

bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

Tensor fetch(const Module &module, const Tensor &t) {
  Tensor host;
  std::string error;
  if (!module.download(t, host, error))
    std::printf("download failed: %s\n", error.c_str());
  return host;
}

/// `entry` on host tensors and on device tensors: the same bytes; the
/// device inputs unchanged.
void sameOnDevice(const Module &module, const std::string &entry,
                  const std::vector<Tensor> &hostInputs) {
  std::string error;
  std::vector<Tensor> onHost, onDevice, deviceInputs;
  for (const Tensor &t : hostInputs)
    if (!module.upload(t, deviceInputs.emplace_back(), error))
      return expect(false, entry + ": upload: " + error);
  if (!module.run(entry, hostInputs, onHost, error))
    return expect(false, entry + " on host tensors: " + error);
  if (!module.run(entry, deviceInputs, onDevice, error))
    return expect(false, entry + " on device tensors: " + error);
  bool same = onHost.size() == onDevice.size();
  for (size_t r = 0; same && r < onHost.size(); ++r)
    same = onDevice[r].isOnDevice() &&
           sameBytes(onHost[r], fetch(module, onDevice[r]));
  for (size_t i = 0; same && i < deviceInputs.size(); ++i)
    same = sameBytes(fetch(module, deviceInputs[i]), hostInputs[i]);
  expect(same, entry + ": device results equal host results, inputs intact");
}

void donation(const Module &module, std::mt19937 &rng) {
  std::string error;
  Tensor accHost = randomTensor({8}, rng), xHost = randomTensor({8}, rng);
  Tensor acc, x;
  if (!module.upload(accHost, acc, error) || !module.upload(xHost, x, error))
    return expect(false, "accumulate: upload: " + error);
  std::vector<Tensor> expected, results;
  if (!module.run("accumulate", std::vector<const Tensor *>{&accHost, &xHost},
                  expected, error))
    return expect(false, "accumulate on host tensors: " + error);
  // Not donated: the argument is left as it was.
  if (!module.run("accumulate", std::vector<const Tensor *>{&acc, &x}, results,
                  error))
    return expect(false, "accumulate: " + error);
  expect(sameBytes(fetch(module, results[0]), expected[0]) &&
             sameBytes(fetch(module, acc), accHost),
         "accumulate, not donated: right sum, argument unchanged");
  // Donated: the result is the argument's buffer, updated in place.
  const void *where = acc.data();
  if (!module.runDonating("accumulate", {&acc, &x}, results, error))
    return expect(false, "accumulate, donated: " + error);
  expect(results[0].isOnDevice() && results[0].data() == where &&
             acc.data() == nullptr &&
             sameBytes(fetch(module, results[0]), expected[0]),
         "accumulate, donated: right sum, in the argument's buffer");
}

void rejections(const Module &gpu, const Module &cpu, std::mt19937 &rng) {
  std::string error;
  Tensor host = randomTensor({6}, rng), device, wrong;
  gpu.upload(host, device, error);
  std::vector<Tensor> out;
  std::vector<const Tensor *> inputs = {&device};
  expect(!cpu.run("identity", inputs, out, error), "CPU module, device tensor");
  std::printf("  %s\n", error.c_str());
  expect(!cpu.upload(host, wrong, error), "upload to a CPU module");
  std::printf("  %s\n", error.c_str());
  expect(!gpu.download(host, wrong, error), "download of a host tensor");
  std::printf("  %s\n", error.c_str());
  Tensor matrix;
  gpu.upload(randomTensor({2, 3}, rng), matrix, error);
  inputs = {&matrix};
  expect(!gpu.run("identity", inputs, out, error), "device tensor, wrong rank");
  std::printf("  %s\n", error.c_str());
}
} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GPU_MODULE CPU_MODULE\n", argv[0]);
    return 2;
  }
  std::string error;
  std::unique_ptr<Module> gpu = Module::load(argv[1], error);
  std::unique_ptr<Module> cpu = gpu ? Module::load(argv[2], error) : nullptr;
  if (!cpu) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  expect(gpu->device() && !cpu->device(),
         std::string("device: ") + gpu->device()->describe());
  std::mt19937 rng(11);
  std::vector<Tensor> inputs;
  inputs.push_back(randomTensor({37}, rng));
  inputs.push_back(randomTensor({37}, rng));
  sameOnDevice(*gpu, "add", inputs);
  inputs.pop_back();
  sameOnDevice(*gpu, "identity", inputs);
  inputs.clear();
  inputs.push_back(randomTensor({2, 5, 4}, rng));
  sameOnDevice(*gpu, "twice", inputs);
  donation(*gpu, rng);
  rejections(*gpu, *cpu, rng);

  // A device result outlives its module.
  Tensor kept, input;
  gpu->upload(randomTensor({5}, rng), input, error);
  std::vector<Tensor> out;
  std::vector<const Tensor *> one = {&input};
  bool ran = gpu->run("identity", one, out, error);
  kept = std::move(out[0]);
  gpu.reset();
  kept = Tensor();
  input = Tensor();
  expect(ran, "device tensors freed after their module");
  std::printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
