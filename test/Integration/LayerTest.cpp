//===- LayerTest.cpp - Compiled MoA layers against the reference ----------===//
//
// For each configuration: write a module with a moa.mixture_attention entry
// (and entries for moa.route + moa.dispatch and the auxiliary losses),
// compile it with moa-compile, run it through the runtime at two (B, T, S)
// shapes without recompiling, and compare with the double-precision
// reference (test/Reference) on random inputs:
//   f32: relative error <= 1e-5 (max abs error / max abs reference value),
//   f16/bf16: <= 1e-2; top-k indices, permutation and offsets identical.
// On the CPU each shape runs once more with new weights written into the
// same buffers (a weight cached or prefetched by address would go stale).
//
// usage: moa-layer-test MOA_COMPILE WORKDIR [CONFIG-NAME-FILTER] [--cuda]
//                       [--mock-gpu] [--emulate-gpu]
//                       [--compile-only | --prebuilt] [--compile-arg=ARG]...
//
// --cuda compiles for the GPU (moa-compile --target=cuda) and checks the
// same layer and routing on the device (without the auxiliary losses, which
// have no GPU lowering), f16/bf16 within 2e-2. --mock-gpu links the
// recording mock instead of the driver: every configuration is compiled by
// ptxas and its host code runs, but no kernel does, so nothing is compared.
// --emulate-gpu runs the same kernels on the CPU (moa-compile --emulate-gpu)
// and compares as --cuda does: the kernels' logic, tested without a GPU.
// --compile-only compiles the modules into WORKDIR and stops; --prebuilt
// runs the modules already there without compiling (the GPU machine has no
// LLVM: bench/gpu/bundle.sh compiles here, bench/gpu/run.sh runs there).
// --compile-arg=ARG passes ARG on to moa-compile (e.g. --gpu-tiling=...).
//
//===----------------------------------------------------------------------===//

#include "MoAReference.h"
#include "TestSupport.h"
#include "runtime/Runtime.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace moa;
using namespace moa::runtime;
using namespace moa::test;
namespace ref = moa::reference;

namespace {

struct Config {
  std::string name;
  int d, experts, k, h;
  bool cross = false, causal = false, keyPadding = false, queryPadding = false;
  bool fullyMaskedRow = false, topkSoftmax = false, renormalize = false;
  /// Sequences longer than one key tile of the attention kernels (32 keys
  /// on the CPU's SIMT GPU path, 64 on the tensor cores, 256 per CPU block).
  bool longSequences = false;
  std::optional<double> scale;
  DType dtype = DType::F32;
};

struct Shape {
  int batch, queryLength, keyLength;
};

/// How the modules are compiled and checked.
struct Mode {
  bool cuda = false, mock = false, emulate = false;
};

std::string moduleText(const Config &c, const Mode &mode) {
  const std::string E = std::to_string(c.experts), K = std::to_string(c.k);
  const std::string mask = tensorType({"?", "?"}, DType::I1);
  const std::string logits = tensorType({"?", "?", E}, DType::F32);
  const std::string idx = tensorType({"?", "?", K}, DType::I32);
  const std::string gates = tensorType({"?", "?", K}, DType::F32);

  std::ostringstream os;
  os << layerFunction(c, "layer", c.dtype);

  // Routing primitives on the layer's logits.
  const std::string qpmArg = c.queryPadding ? ", %qpm: " + mask : "";
  const std::string qpmUse =
      c.queryPadding ? " query_padding_mask(%qpm : " + mask + ")" : "";
  os << "func.func @route(%l: " << logits << qpmArg << ") -> (" << idx << ", "
     << gates << ", tensor<?xi32>, tensor<" << c.experts + 1 << "xi32>) {\n"
     << "  %i, %g = moa.route %l k(" << K << ")" << qpmUse;
  printAttributes(os, routingAttributes(c));
  os << " : " << logits << "\n"
     << "  %p, %o = moa.dispatch %i experts(" << E << ") : " << idx << "\n"
     << "  return %i, %g, %p, %o : " << idx << ", " << gates
     << ", tensor<?xi32>, tensor<" << c.experts + 1 << "xi32>\n}\n";
  if (mode.cuda)
    return os.str();

  os << "func.func @losses(%l: " << logits << ", %i: " << idx << qpmArg
     << ") -> (tensor<f32>, tensor<f32>) {\n"
     << "  %a = moa.load_balancing_loss %l, %i" << qpmUse << " : " << logits
     << ", " << idx << "\n"
     << "  %z = moa.router_z_loss %l" << qpmUse << " : " << logits << "\n"
     << "  return %a, %z : tensor<f32>, tensor<f32>\n}\n";
  return os.str();
}

bool runShape(const Module &module, const Config &c, const Shape &shape,
              uint64_t seed, const Mode &mode, Checker &check) {
  std::mt19937_64 rng(seed);
  const int B = shape.batch, T = shape.queryLength;
  const int S = c.cross ? shape.keyLength : T;
  const DType dt = c.dtype;
  ref::LayerInputs in;
  in.batch = B;
  in.queryLength = T;
  in.keyLength = S;
  in.d = c.d;
  in.experts = c.experts;
  in.h = c.h;
  std::vector<Tensor> args;
  args.push_back(randomTensor(rng, dt, {B, T, c.d}, 1.0, in.x));
  args.push_back(
      randomTensor(rng, DType::F32, {c.d, c.experts}, 1.0, in.wGate));
  const double w = 1.0 / std::sqrt(double(c.d));
  args.push_back(randomTensor(rng, dt, {c.experts, c.d, c.h}, w, in.wQuery));
  args.push_back(randomTensor(rng, dt, {c.d, c.h}, w, in.wKey));
  args.push_back(randomTensor(rng, dt, {c.d, c.h}, w, in.wValue));
  args.push_back(randomTensor(rng, dt, {c.experts, c.h, c.d},
                              1.0 / std::sqrt(double(c.h)), in.wOut));
  ref::Buffer memory;
  ref::Mask keyPadding, queryPadding;
  if (c.cross) {
    args.push_back(randomTensor(rng, dt, {B, S, c.d}, 1.0, memory));
    in.memory = &memory;
  }
  if (c.keyPadding) {
    args.push_back(randomMask(rng, {B, S}, 0.25, keyPadding));
    if (c.fullyMaskedRow) // every key of batch 0 is padding
      for (int s = 0; s < S; ++s) {
        keyPadding[s] = 1;
        args.back().set(s, 1);
      }
    in.keyPadding = &keyPadding;
  }
  Tensor queryMask;
  if (c.queryPadding) {
    args.push_back(randomMask(rng, {B, T}, 0.25, queryPadding));
    queryMask = Tensor(DType::I1, {B, T});
    std::memcpy(queryMask.data(), args.back().data(), queryMask.byteSize());
    in.queryPadding = &queryPadding;
  }
  ref::LayerOptions options;
  options.k = c.k;
  options.topkSoftmax = c.topkSoftmax;
  options.renormalize = c.renormalize;
  options.causal = c.causal;
  options.scale = c.scale;

  std::string error;
  std::vector<Tensor> out;
  if (!module.run("layer", args, out, error)) {
    check.fail("layer: " + error);
    return false;
  }
  // With the mock GPU no kernel runs: that the host code did is all.
  if (!mode.mock) {
    ref::LayerOutputs expected = ref::mixtureAttention(in, options);
    check.close("y", out[0], expected.y);
    check.close("router logits", out[1], expected.logits);
  }
  // The same buffers with new weights (as an optimizer updates them in
  // place) must give the new layer: nothing may be kept per buffer address
  // (a packed weight, a prefetch of a stale one) between calls.
  if (!mode.cuda && !mode.mock && !mode.emulate) {
    randomize(rng, args[2], w, in.wQuery);
    randomize(rng, args[3], w, in.wKey);
    randomize(rng, args[4], w, in.wValue);
    randomize(rng, args[5], 1.0 / std::sqrt(double(c.h)), in.wOut);
    std::vector<Tensor> again;
    if (!module.run("layer", args, again, error)) {
      check.fail("layer with new weights: " + error);
      return false;
    }
    ref::LayerOutputs expected = ref::mixtureAttention(in, options);
    check.close("y with the weights changed in place", again[0], expected.y);
  }

  // Routing on the compiled logits: indices must be identical.
  std::vector<Tensor> routeArgs;
  routeArgs.push_back(std::move(out[1]));
  if (c.queryPadding)
    routeArgs.push_back(std::move(queryMask));
  ref::Buffer logits = toBuffer(routeArgs[0]);
  std::vector<Tensor> routed;
  if (!module.run("route", routeArgs, routed, error)) {
    check.fail("route: " + error);
    return false;
  }
  if (mode.mock)
    return true;
  ref::Routing routing = ref::route(logits, B * T, c.experts, options,
                                    c.queryPadding ? &queryPadding : nullptr);
  check.same("top-k indices", routed[0], routing.indices);
  check.close("gates", routed[1], routing.gates);
  std::vector<int> permutation, offsets;
  ref::dispatch(routing.indices, c.experts, permutation, offsets);
  check.same("dispatch permutation", routed[2], permutation);
  check.same("dispatch offsets", routed[3], offsets);
  if (mode.cuda)
    return true;

  std::vector<Tensor> lossArgs;
  lossArgs.push_back(std::move(routeArgs[0]));
  lossArgs.push_back(std::move(routed[0]));
  if (c.queryPadding)
    lossArgs.push_back(std::move(routeArgs[1]));
  std::vector<Tensor> losses;
  if (!module.run("losses", lossArgs, losses, error)) {
    check.fail("losses: " + error);
    return false;
  }
  const ref::Mask *padding = c.queryPadding ? &queryPadding : nullptr;
  check.close("load-balancing loss", losses[0],
              {ref::loadBalancingLoss(logits, routing.indices, B * T, c.experts,
                                      c.k, padding)});
  check.close("router z-loss", losses[1],
              {ref::routerZLoss(logits, B * T, c.experts, padding)});
  return true;
}

std::vector<Config> configs() {
  auto make = [](std::string name, int d, int e, int k, int h) {
    Config c;
    c.name = std::move(name);
    c.d = d;
    c.experts = e;
    c.k = k;
    c.h = h;
    return c;
  };
  std::vector<Config> all;
  all.push_back(make("E1-k1-h8", 16, 1, 1, 8));
  all.push_back(make("E4-k1-h8", 32, 4, 1, 8));
  all.push_back(make("E4-k2-h64", 64, 4, 2, 64));
  Config c = make("E4-k4-h8-renormalize", 32, 4, 4, 8);
  c.renormalize = true;
  all.push_back(c);
  c = make("E8-k2-h64-causal", 64, 8, 2, 64);
  c.causal = true;
  all.push_back(c);
  c = make("E8-k2-h64-key-padding", 64, 8, 2, 64);
  c.keyPadding = true;
  all.push_back(c);
  c = make("E8-k2-h64-query-padding", 64, 8, 2, 64);
  c.queryPadding = true;
  all.push_back(c);
  c = make("E8-k2-h64-fully-masked-row", 64, 8, 2, 64);
  c.keyPadding = c.fullyMaskedRow = true;
  all.push_back(c);
  c = make("E8-k2-h64-topk-softmax", 64, 8, 2, 64);
  c.topkSoftmax = true;
  all.push_back(c);
  c = make("E8-k8-h8-renormalize", 32, 8, 8, 8);
  c.renormalize = true;
  all.push_back(c);
  all.push_back(make("E32-k1-h8", 32, 32, 1, 8));
  all.push_back(make("E32-k2-h128", 64, 32, 2, 128));
  all.push_back(make("E32-k32-h8", 32, 32, 32, 8));
  c = make("E8-k2-h64-cross", 64, 8, 2, 64);
  c.cross = true;
  all.push_back(c);
  c = make("E8-k2-h64-cross-causal-key-padding", 64, 8, 2, 64);
  c.cross = c.causal = c.keyPadding = true;
  all.push_back(c);
  c = make("E4-k2-h128-cross-query-padding-topk-softmax-renormalize", 64, 4, 2,
           128);
  c.cross = c.queryPadding = c.topkSoftmax = c.renormalize = true;
  all.push_back(c);
  c = make("E8-k2-h64-scale", 64, 8, 2, 64);
  c.scale = 0.2;
  all.push_back(c);
  c = make("E8-k2-h64-causal-both-masks-renormalize", 64, 8, 2, 64);
  c.causal = c.keyPadding = c.queryPadding = c.renormalize = true;
  all.push_back(c);
  c = make("E1-k1-h128-cross-causal", 64, 1, 1, 128);
  c.cross = c.causal = true;
  all.push_back(c);
  c = make("E32-k4-h64-causal-query-padding", 64, 32, 4, 64);
  c.causal = c.queryPadding = true;
  all.push_back(c);
  c = make("bf16-E8-k2-h64", 64, 8, 2, 64);
  c.dtype = DType::BF16;
  all.push_back(c);
  c = make("f16-E8-k2-h64-causal", 64, 8, 2, 64);
  c.dtype = DType::F16;
  c.causal = true;
  all.push_back(c);
  c = make("bf16-E4-k2-h8-cross-both-masks", 32, 4, 2, 8);
  c.dtype = DType::BF16;
  c.cross = c.keyPadding = c.queryPadding = true;
  all.push_back(c);
  c = make("f16-E32-k4-h8", 32, 32, 4, 8);
  c.dtype = DType::F16;
  all.push_back(c);
  c = make("long-E8-k2-h64-causal-key-padding", 64, 8, 2, 64);
  c.longSequences = c.causal = c.keyPadding = true;
  all.push_back(c);
  c = make("long-bf16-E8-k2-h64-causal-key-padding", 64, 8, 2, 64);
  c.dtype = DType::BF16;
  c.longSequences = c.causal = c.keyPadding = true;
  all.push_back(c);
  c = make("long-f16-E4-k2-h32-cross", 32, 4, 2, 32);
  c.dtype = DType::F16;
  c.longSequences = c.cross = true;
  all.push_back(c);
  // Sizes off the GPU kernels' 16-byte copies: d and h not multiples of 8
  // (the GEMMs stage element by element), and h = 48 (tensor-core
  // attention whose K and V tiles are not a whole number of copy rounds
  // for some tile sizes).
  c = make("f16-E4-k2-h12-d20-key-padding", 20, 4, 2, 12);
  c.dtype = DType::F16;
  c.keyPadding = true;
  all.push_back(c);
  c = make("long-bf16-E4-k2-h48-d40-causal", 40, 4, 2, 48);
  c.dtype = DType::BF16;
  c.longSequences = c.causal = true;
  all.push_back(c);
  return all;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  Mode mode;
  bool compileOnly = false, prebuilt = false;
  // Passed on to moa-compile (e.g. --gpu-tiling=...), each quoted.
  std::string extraArguments;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--cuda")
      mode.cuda = true;
    else if (arg == "--mock-gpu")
      mode.cuda = mode.mock = true;
    else if (arg == "--emulate-gpu")
      mode.cuda = mode.emulate = true;
    else if (arg == "--compile-only")
      compileOnly = true;
    else if (arg == "--prebuilt")
      prebuilt = true;
    else if (arg.rfind("--compile-arg=", 0) == 0)
      extraArguments += " '" + arg.substr(std::strlen("--compile-arg=")) + "'";
    else
      positional.push_back(arg);
  }
  if (positional.size() < 2 || positional.size() > 3) {
    std::fprintf(stderr,
                 "usage: %s MOA_COMPILE WORKDIR [FILTER] [--cuda] "
                 "[--mock-gpu] [--emulate-gpu] [--compile-only | "
                 "--prebuilt] [--compile-arg=ARG]...\n",
                 argv[0]);
    return 2;
  }
  const std::string compiler = positional[0], workdir = positional[1];
  const std::string filter = positional.size() > 2 ? positional[2] : "";
  const std::string compileArguments =
      (mode.mock      ? "--target=cuda --mock-gpu"
       : mode.emulate ? "--target=cuda --emulate-gpu"
       : mode.cuda    ? "--target=cuda"
                      : "") +
      extraArguments;
  // Each compiled module runs at two shapes; T != S for cross-attention.
  const std::vector<Shape> shortShapes = {{2, 7, 11}, {3, 16, 5}};
  const std::vector<Shape> longShapes = {{1, 300, 300}, {2, 130, 70}};
  int failed = 0, runs = 0, count = 0;
  for (const Config &c : configs()) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos)
      continue;
    ++count;
    const std::string base = workdir + "/" + c.name;
    std::string error;
    std::unique_ptr<Module> module =
        prebuilt ? Module::load(base + ".so", error)
                 : compileModule(compiler, base, moduleText(c, mode), error,
                                 compileArguments);
    if (module && compileOnly) {
      std::printf("COMPILED %s\n", c.name.c_str());
      continue;
    }
    if (!module) {
      std::printf("FAIL %s: %s\n", c.name.c_str(), error.c_str());
      ++failed;
      continue;
    }
    Checker check(c.dtype == DType::F32 ? 1e-5 : mode.cuda ? 2e-2 : 1e-2);
    const std::vector<Shape> &shapes =
        c.longSequences ? longShapes : shortShapes;
    for (size_t i = 0; i < shapes.size(); ++i, ++runs)
      runShape(*module, c, shapes[i], 1000 * count + i, mode, check);
    if (check.failures.empty() && mode.mock) {
      std::printf("RAN %s (compiled for the GPU, host code run on the mock)\n",
                  c.name.c_str());
    } else if (check.failures.empty()) {
      std::printf("PASS %s (worst relative error %.2e)\n", c.name.c_str(),
                  check.worst);
    } else {
      ++failed;
      std::printf("FAIL %s:", c.name.c_str());
      for (const std::string &f : check.failures)
        std::printf(" [%s]", f.c_str());
      std::printf("\n");
    }
  }
  std::printf("%d configurations, %d runs, %d failed\n", count, runs, failed);
  return failed ? 1 : 0;
}
