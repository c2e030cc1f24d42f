//===- PrimitivesTest.cpp - Compiled primitives against the reference -----===//
//
// moa.grouped_matmul in its four modes (rows per token or per pair; scatter
// or gate-weighted combine) on random expert assignments that leave some
// pairs undispatched, and moa.multi_query_attention with and without causal
// masking, key padding (including a batch whose keys are all padding) and an
// explicit scale, T != S, a NaN key (NaN rows, IEEE), and a row projection
// x w left as linalg.contract
// (as moa-fuse leaves one that feeds no moa op), at four shapes per compiled
// module. f32 within 1e-5 relative error of the double-precision reference.
//
// usage: moa-primitives-test MOA_COMPILE WORKDIR [--emulate-gpu | --cuda]
//
// --emulate-gpu compiles for the GPU and runs the kernels on the CPU
// emulator (moa-compile --target=cuda --emulate-gpu); --cuda runs them on a
// GPU. Same reference, same tolerance (f32 on the GPU is f32 arithmetic).
//
//===----------------------------------------------------------------------===//

#include "MoAReference.h"
#include "TestSupport.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <tuple>

using namespace moa;
using namespace moa::runtime;
using namespace moa::test;
namespace ref = moa::reference;

namespace {

constexpr int kExperts = 5, kSlots = 3, kIn = 24, kOut = 40, kHead = 16;

std::string moduleText() {
  std::ostringstream os;
  const std::string E = std::to_string(kExperts), K = std::to_string(kIn),
                    N = std::to_string(kOut), k = std::to_string(kSlots),
                    h = std::to_string(kHead);
  const std::string tokenRows = "tensor<?x?x" + K + "xf32>";
  const std::string pairRows = "tensor<?x?x" + k + "x" + K + "xf32>";
  const std::string weight = "tensor<" + E + "x" + K + "x" + N + "xf32>";
  const std::string grouping =
      "tensor<?xi32>, tensor<" + std::to_string(kExperts + 1) + "xi32>";
  const std::string gates = "tensor<?x?x" + k + "xf32>";
  const std::string scattered = "tensor<?x?x" + k + "x" + N + "xf32>";
  const std::string combined = "tensor<?x?x" + N + "xf32>";
  auto grouped = [&](const std::string &name, const std::string &input,
                     bool combine) {
    const std::string result = combine ? combined : scattered;
    os << "func.func @" << name << "(%x: " << input << ", %w: " << weight
       << ", %p: tensor<?xi32>, %o: tensor<" << kExperts + 1 << "xi32>"
       << (combine ? ", %g: " + gates : "") << ") -> " << result << " {\n"
       << "  %y = moa.grouped_matmul %x, %w, %p, %o"
       << (combine ? " gates(%g : " + gates + ")" : "") << " : (" << input
       << ", " << weight << ", " << grouping << ") -> " << result << "\n"
       << "  return %y : " << result << "\n}\n";
  };
  grouped("token_scatter", tokenRows, false);
  grouped("pair_scatter", pairRows, false);
  grouped("token_combine", tokenRows, true);
  grouped("pair_combine", pairRows, true);

  const std::string q = "tensor<?x?x" + k + "x" + h + "xf32>";
  const std::string kv = "tensor<?x?x" + h + "xf32>";
  os << "func.func @attention(%q: " << q << ", %k: " << kv << ", %v: " << kv
     << ") -> " << q << " {\n  %o = moa.multi_query_attention %q, %k, %v "
     << "{scale = 0.3 : f32} : " << q << ", " << kv << ", " << kv
     << "\n  return %o : " << q << "\n}\n";
  os << "func.func @attention_causal_masked(%q: " << q << ", %k: " << kv
     << ", %v: " << kv << ", %m: tensor<?x?xi1>) -> " << q << " {\n"
     << "  %o = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : "
     << "tensor<?x?xi1>) {causal} : " << q << ", " << kv << ", " << kv
     << "\n  return %o : " << q << "\n}\n";
  os << "#in = affine_map<(b, t, n, c) -> (b, t, c)>\n"
     << "#w = affine_map<(b, t, n, c) -> (c, n)>\n"
     << "#out = affine_map<(b, t, n, c) -> (b, t, n)>\n"
     << "func.func @row_projection(%x: " << tokenRows << ", %w: tensor<" << K
     << "x" << N << "xf32>) -> " << combined << " {\n"
     << "  %c0 = arith.constant 0 : index\n"
     << "  %c1 = arith.constant 1 : index\n"
     << "  %zero = arith.constant 0.0 : f32\n"
     << "  %b = tensor.dim %x, %c0 : " << tokenRows << "\n"
     << "  %t = tensor.dim %x, %c1 : " << tokenRows << "\n"
     << "  %e = tensor.empty(%b, %t) : " << combined << "\n"
     << "  %z = linalg.fill ins(%zero : f32) outs(%e : " << combined << ") -> "
     << combined << "\n"
     << "  %y = linalg.contract indexing_maps = [#in, #w, #out] ins(%x, %w : "
     << tokenRows << ", tensor<" << K << "x" << N
     << "xf32>) outs(%z : " << combined << ") -> " << combined << "\n"
     << "  return %y : " << combined << "\n}\n";
  return os.str();
}

/// y[r, n] = sum_c x[r, c] w[c, n] in double, for `rows` rows.
std::vector<double> projectRows(const ref::Buffer &x, const ref::Buffer &w,
                                int rows) {
  std::vector<double> y(size_t(rows) * kOut, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < kIn; ++c)
      for (int n = 0; n < kOut; ++n)
        y[size_t(r) * kOut + n] +=
            x[size_t(r) * kIn + c] * w[size_t(c) * kOut + n];
  return y;
}

void testRowProjection(const Module &module, int batch, int length,
                       std::mt19937_64 &rng, Checker &check) {
  ref::Buffer x, w;
  std::vector<Tensor> args;
  args.push_back(randomTensor(rng, DType::F32, {batch, length, kIn}, 1.0, x));
  args.push_back(randomTensor(rng, DType::F32, {kIn, kOut}, 0.5, w));
  std::vector<Tensor> out;
  std::string error;
  if (!module.run("row_projection", args, out, error))
    return check.fail("row_projection: " + error);
  check.close("row_projection", out[0], projectRows(x, w, batch * length));
}

/// A NaN in one key of batch 0 (no mask, so every row sees it): IEEE says
/// every output of batch 0 is NaN; batch 1 stays finite.
void testAttentionNaN(const Module &module, int length, int keys,
                      std::mt19937_64 &rng, Checker &check) {
  ref::Buffer q, k, v;
  std::vector<Tensor> args;
  args.push_back(
      randomTensor(rng, DType::F32, {2, length, kSlots, kHead}, 1.0, q));
  args.push_back(randomTensor(rng, DType::F32, {2, keys, kHead}, 1.0, k));
  args.push_back(randomTensor(rng, DType::F32, {2, keys, kHead}, 1.0, v));
  args[1].set(keys / 2 * kHead, std::nan(""));
  std::vector<Tensor> out;
  std::string error;
  if (!module.run("attention", args, out, error))
    return check.fail("attention with a NaN key: " + error);
  const int64_t perBatch = out[0].numElements() / 2;
  for (int64_t i = 0; i < out[0].numElements(); ++i)
    if (std::isnan(out[0].at(i)) != (i < perBatch))
      return check.fail("attention with a NaN key: element " +
                        std::to_string(i) + " is " +
                        std::to_string(out[0].at(i)));
}

void testGroupedMatmul(const Module &module, int batch, int length,
                       std::mt19937_64 &rng, Checker &check) {
  const int tokens = batch * length, pairs = tokens * kSlots;
  // Distinct experts per token (as routing gives), some slots undispatched.
  std::vector<int> indices(pairs);
  std::uniform_int_distribution<int> pick(0, kExperts - 1);
  std::bernoulli_distribution drop(0.2);
  for (int t = 0; t < tokens; ++t) {
    std::vector<int> experts(kExperts);
    for (int e = 0; e < kExperts; ++e)
      experts[e] = e;
    std::shuffle(experts.begin(), experts.end(), rng);
    const bool padded = drop(rng);
    for (int j = 0; j < kSlots; ++j)
      indices[t * kSlots + j] = padded ? -1 : experts[j];
  }
  std::vector<int> permutation, offsets;
  ref::dispatch(indices, kExperts, permutation, offsets);

  ref::Buffer tokenInput, pairInput, weight, gates;
  Tensor tokenRows =
      randomTensor(rng, DType::F32, {batch, length, kIn}, 1.0, tokenInput);
  Tensor pairRows = randomTensor(rng, DType::F32, {batch, length, kSlots, kIn},
                                 1.0, pairInput);
  Tensor w = randomTensor(rng, DType::F32, {kExperts, kIn, kOut}, 0.5, weight);
  Tensor g = randomTensor(rng, DType::F32, {batch, length, kSlots}, 1.0, gates);
  for (const auto &[name, perPair, combine] :
       std::vector<std::tuple<std::string, bool, bool>>{
           {"token_scatter", false, false},
           {"pair_scatter", true, false},
           {"token_combine", false, true},
           {"pair_combine", true, true}}) {
    std::vector<Tensor> args;
    const Tensor &input = perPair ? pairRows : tokenRows;
    Tensor copy(input.dtype(), input.shape());
    std::memcpy(copy.data(), input.data(), input.byteSize());
    args.push_back(std::move(copy));
    Tensor weightCopy(w.dtype(), w.shape());
    std::memcpy(weightCopy.data(), w.data(), w.byteSize());
    args.push_back(std::move(weightCopy));
    args.push_back(intTensor({pairs}, permutation));
    args.push_back(intTensor({kExperts + 1}, offsets));
    if (combine) {
      Tensor gateCopy(g.dtype(), g.shape());
      std::memcpy(gateCopy.data(), g.data(), g.byteSize());
      args.push_back(std::move(gateCopy));
    }
    std::vector<Tensor> out;
    std::string error;
    if (!module.run(name, args, out, error)) {
      check.fail(name + ": " + error);
      continue;
    }
    check.close(name, out[0],
                ref::groupedMatmul(perPair ? pairInput : tokenInput, perPair,
                                   weight, tokens, kSlots, kIn, kOut, indices,
                                   combine ? &gates : nullptr));
  }
}

void testAttention(const Module &module, int batch, int length, int keys,
                   std::mt19937_64 &rng, Checker &check) {
  ref::Buffer q, k, v;
  ref::Mask padding;
  auto args = [&](bool masked) {
    std::vector<Tensor> a;
    a.push_back(
        randomTensor(rng, DType::F32, {batch, length, kSlots, kHead}, 1.0, q));
    a.push_back(randomTensor(rng, DType::F32, {batch, keys, kHead}, 1.0, k));
    a.push_back(randomTensor(rng, DType::F32, {batch, keys, kHead}, 1.0, v));
    if (masked) {
      a.push_back(randomMask(rng, {batch, keys}, 0.3, padding));
      for (int s = 0; s < keys; ++s) { // batch 0: every key is padding
        padding[s] = 1;
        a.back().set(s, 1);
      }
    }
    return a;
  };
  std::vector<Tensor> out;
  std::string error;
  if (!module.run("attention", args(false), out, error))
    return check.fail("attention: " + error);
  check.close("attention", out[0],
              ref::multiQueryAttention(q, k, v, batch, length, keys, kSlots,
                                       kHead, false, nullptr, 0.3));
  if (!module.run("attention_causal_masked", args(true), out, error))
    return check.fail("attention_causal_masked: " + error);
  check.close("attention_causal_masked", out[0],
              ref::multiQueryAttention(q, k, v, batch, length, keys, kSlots,
                                       kHead, true, &padding,
                                       1.0 / std::sqrt(double(kHead))));
}

} // namespace

int main(int argc, char **argv) {
  const std::string target = argc == 4 ? argv[3] : "";
  if (argc < 3 || argc > 4 ||
      (argc == 4 && target != "--emulate-gpu" && target != "--cuda")) {
    std::fprintf(stderr,
                 "usage: %s MOA_COMPILE WORKDIR [--emulate-gpu | --cuda]\n",
                 argv[0]);
    return 2;
  }
  std::string error;
  std::unique_ptr<Module> module = compileModule(
      argv[1], std::string(argv[2]) + "/primitives", moduleText(), error,
      target == "--emulate-gpu" ? "--target=cuda --emulate-gpu"
      : target == "--cuda"      ? "--target=cuda"
                                : "");
  if (!module) {
    std::printf("FAIL: %s\n", error.c_str());
    return 1;
  }
  Checker check(1e-5);
  std::mt19937_64 rng(2022);
  // (B, T, S) with T != S; (4, 100, 30) gives each expert more than 128
  // pairs, so its rows span several tiles; S = 600 spans three key blocks of
  // the online softmax, and with T = 300 the causal tiles end in different
  // blocks.
  for (auto [batch, length, keys] :
       {std::tuple{2, 9, 13}, {3, 70, 40}, {4, 100, 30}, {2, 300, 600}}) {
    testGroupedMatmul(*module, batch, length, rng, check);
    testAttention(*module, batch, length, keys, rng, check);
    testRowProjection(*module, batch, length, rng, check);
    testAttentionNaN(*module, length, keys, rng, check);
  }
  for (const std::string &failure : check.failures)
    std::printf("FAIL %s\n", failure.c_str());
  std::printf("primitives: %zu failures (worst relative error %.2e)\n",
              check.failures.size(), check.worst);
  return check.failures.empty() ? 0 : 1;
}
