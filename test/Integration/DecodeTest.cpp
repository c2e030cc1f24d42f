//===- DecodeTest.cpp - prefill + decode against the full forward pass ----===//
//
// A model compiled with moa-generate-decode must give, at every position,
// the logits of its full forward pass: prompts of different lengths in one
// batch (right-padded, the padding random ids) are prefilled, then N tokens
// per sequence are decoded one step at a time, each step's caches those the
// last returned (donated, updated in place). Compared with
//   - examples/tiny_lm.mlir (one layer, positions): the compiled forward
//     (@loss's logits, f32, 1e-5) and the double-precision reference of the
//     whole model (reference::tinyLMForward, 1e-4, the tolerance of f32
//     code against it elsewhere); tokens are redrawn where the reference's
//     router is within kMinGap of a tie, so both route alike;
//   - a model generated here, two layers without positions, in f32 (1e-5)
//     and with bf16 activations (2e-2), against its compiled forward.
// Also: run() (which copies a donated argument) gives what runDonating()
// gives and leaves its inputs untouched; and the errors of a length
// outside the prompt, a cache offset past its end and a wrong cache shape.
//
// Usage: moa-decode-test MOA_COMPILE TMPDIR TINY_LM.mlir
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"
#include "TinyLMReference.h"

#include <algorithm>
#include <cstring>

using namespace moa;
using namespace moa::test;
namespace ref = moa::reference;

namespace {

constexpr double kMinGap = 0.05;
constexpr int64_t kMaxLength = 40; // cache rows

/// A model as the decoder sees it: parameters, and how to run its
/// forward (@loss, logits at every position) and decoder entries.
struct DecodeModel {
  std::string name;
  std::unique_ptr<Module> module;
  std::vector<Tensor> params;
  bool positions = true;
  size_t logitsResult = 0; // of @loss
  int vocab = 0;
  double tolerance = 0;
};

std::vector<const Tensor *> pointers(const std::vector<Tensor> &tensors) {
  std::vector<const Tensor *> out;
  for (const Tensor &t : tensors)
    out.push_back(&t);
  return out;
}

/// Prompts and their continuations: tokens[b] of `total` ids; the first
/// lengths[b] are the prompt.
struct Sequences {
  int64_t batch = 0, total = 0;
  std::vector<int> tokens, lengths;
};

Tensor positionsOf(int64_t batch, int64_t length, int64_t first = 0) {
  Tensor t(DType::I32, {batch, length});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < length; ++j)
      t.as<int32_t>()[b * length + j] = int32_t(first + j);
  return t;
}

/// max |a - b| / max |b| over the V logits of row `row` of `expected`.
double rowError(const Tensor &actual, int64_t actualRow,
                const std::vector<double> &expected, int64_t row, int vocab) {
  double err = 0, scale = 0;
  for (int v = 0; v < vocab; ++v) {
    double e = expected[row * vocab + v];
    double a = actual.at(actualRow * vocab + v);
    if (std::isnan(a))
      return INFINITY;
    err = std::max(err, std::fabs(a - e));
    scale = std::max(scale, std::fabs(e));
  }
  return err / std::max(scale, 1e-30);
}

/// Runs @loss_prefill and `steps` decode steps; compares every step's
/// logits with `expected` [B, total, V] within `tolerance`.
void checkDecoding(Checker &check, DecodeModel &m, const Sequences &s,
                   const std::vector<double> &expected, double tolerance,
                   const std::string &what) {
  const int64_t B = s.batch;
  const int prompt = *std::max_element(s.lengths.begin(), s.lengths.end());
  std::vector<int> padded(B * prompt);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> anyId(0, m.vocab - 1);
  for (int64_t b = 0; b < B; ++b)
    for (int j = 0; j < prompt; ++j)
      padded[b * prompt + j] =
          j < s.lengths[b] ? s.tokens[b * s.total + j] : anyId(rng);

  std::vector<Tensor> args = [&] {
    std::vector<Tensor> copies;
    for (const Tensor &p : m.params) {
      Tensor c(p.dtype(), p.shape());
      std::memcpy(c.data(), p.data(), p.byteSize());
      copies.push_back(std::move(c));
    }
    return copies;
  }();
  args.push_back(intTensor({B, prompt}, padded));
  if (m.positions)
    args.push_back(positionsOf(B, prompt));
  args.push_back(intTensor({B}, s.lengths));
  std::vector<Tensor> out;
  std::string error;
  if (!m.module->run("loss_prefill", pointers(args), out, error)) {
    check.fail(what + ": prefill: " + error);
    return;
  }
  double worst = 0;
  for (int64_t b = 0; b < B; ++b)
    worst = std::max(worst, rowError(out[0], b, expected,
                                     b * s.total + s.lengths[b] - 1, m.vocab));
  std::vector<Tensor> caches;
  for (size_t i = 1; i < out.size(); ++i)
    caches.push_back(std::move(out[i]));

  const int steps = int(s.total) - prompt;
  for (int step = 0; step < steps; ++step) {
    std::vector<int> ids(B), positions(B), lengths(B);
    for (int64_t b = 0; b < B; ++b) {
      lengths[b] = s.lengths[b] + step;
      ids[b] = s.tokens[b * s.total + lengths[b]];
      positions[b] = lengths[b];
    }
    std::vector<Tensor> stepArgs;
    stepArgs.push_back(intTensor({B, 1}, ids));
    if (m.positions)
      stepArgs.push_back(intTensor({B, 1}, positions));
    std::vector<Tensor *> inputs;
    for (Tensor &p : m.params)
      inputs.push_back(&p);
    for (Tensor &t : stepArgs)
      inputs.push_back(&t);
    for (Tensor &c : caches)
      inputs.push_back(&c);
    Tensor lengthTensor = intTensor({B}, lengths);
    inputs.push_back(&lengthTensor);

    // Once, the copying run(): same logits, its inputs left as they were.
    if (step == 1) {
      std::vector<Tensor> plain;
      Tensor before(caches[0].dtype(), caches[0].shape());
      std::memcpy(before.data(), caches[0].data(), before.byteSize());
      std::vector<const Tensor *> readOnly(inputs.begin(), inputs.end());
      if (!m.module->run("loss_decode", readOnly, plain, error))
        check.fail(what + ": run(): " + error);
      else if (std::memcmp(before.data(), caches[0].data(),
                           before.byteSize()) != 0)
        check.fail(what + ": run() wrote a cache it was given");
      else
        for (int64_t b = 0; b < B; ++b)
          worst = std::max(worst, rowError(plain[0], b, expected,
                                           b * s.total + lengths[b], m.vocab));
    }
    const void *cacheBytes = caches[0].data();
    if (!m.module->runDonating("loss_decode", inputs, out, error)) {
      check.fail(what + ": decode step " + std::to_string(step) + ": " + error);
      return;
    }
    if (out[1].data() != cacheBytes)
      check.fail(what + ": the decoded cache is not the donated buffer");
    for (int64_t b = 0; b < B; ++b)
      worst = std::max(worst, rowError(out[0], b, expected,
                                       b * s.total + lengths[b], m.vocab));
    for (size_t i = 1; i < out.size(); ++i)
      caches[i - 1] = std::move(out[i]);
  }
  std::printf("%s: prefill + %d decode steps, worst relative error %.3g "
              "(tolerance %g)\n",
              what.c_str(), steps, worst, tolerance);
  if (!(worst <= tolerance))
    check.fail(what + ": logits differ from the forward pass");
}

/// @loss's logits at every position of the full sequences.
bool forwardLogits(DecodeModel &m, const Sequences &s,
                   std::vector<double> &logits, std::string &error) {
  std::vector<Tensor> args;
  for (const Tensor &p : m.params) {
    Tensor c(p.dtype(), p.shape());
    std::memcpy(c.data(), p.data(), p.byteSize());
    args.push_back(std::move(c));
  }
  args.push_back(intTensor({s.batch, s.total}, s.tokens));
  if (m.positions)
    args.push_back(positionsOf(s.batch, s.total));
  if (m.name == "tiny_lm") // its targets, which the logits do not need
    args.push_back(
        intTensor({s.batch, s.total}, std::vector<int>(s.batch * s.total, 0)));
  std::vector<Tensor> out;
  if (!m.module->run("loss", pointers(args), out, error))
    return false;
  logits = toBuffer(out[m.logitsResult]);
  return true;
}

Sequences randomSequences(std::mt19937_64 &rng, int vocab) {
  Sequences s;
  s.batch = 3;
  s.total = 24;
  s.lengths = {9, 1, 14}; // prompts; then 10 decode steps
  std::uniform_int_distribution<int> id(0, vocab - 1);
  for (int64_t i = 0; i < s.batch * s.total; ++i)
    s.tokens.push_back(id(rng));
  return s;
}

double selectionGap(const double *logits, int experts, int k) {
  std::vector<double> sorted(logits, logits + experts);
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  return sorted[k - 1] - sorted[k];
}

/// Calls `entry` expecting it to fail with a message containing `expected`.
void expectError(Checker &check, DecodeModel &m, const std::string &entry,
                 const std::vector<Tensor> &args, const std::string &expected) {
  std::vector<Tensor> out;
  std::string error;
  if (m.module->run(entry, pointers(args), out, error))
    check.fail(m.name + ": " + entry + " succeeded; expected '" + expected +
               "'");
  else if (error.find(expected) == std::string::npos)
    check.fail(m.name + ": " + entry + ": '" + error + "'; expected '" +
               expected + "'");
  else
    std::printf("%s: %s rejected: %s\n", m.name.c_str(), entry.c_str(),
                error.c_str());
}

/// Copies of the parameters followed by `data`.
std::vector<Tensor> withParams(const DecodeModel &m, std::vector<Tensor> data) {
  std::vector<Tensor> args;
  for (const Tensor &p : m.params) {
    Tensor c(p.dtype(), p.shape());
    std::memcpy(c.data(), p.data(), p.byteSize());
    args.push_back(std::move(c));
  }
  for (Tensor &t : data)
    args.push_back(std::move(t));
  return args;
}

/// Lengths outside the prompt, a sequence past its cache, a cache of the
/// wrong shape.
void checkErrors(Checker &check, DecodeModel &m, const Sequences &s) {
  const int64_t B = s.batch, T = 4;
  auto prefill = [&](std::vector<int> lengths) {
    std::vector<Tensor> data;
    data.push_back(intTensor({B, T}, std::vector<int>(B * T, 1)));
    if (m.positions)
      data.push_back(positionsOf(B, T));
    data.push_back(intTensor({B}, lengths));
    return withParams(m, std::move(data));
  };
  expectError(check, m, "loss_prefill", prefill({1, 0, 2}),
              "each prompt length must lie in [1, T]");
  expectError(check, m, "loss_prefill", prefill({1, 5, 2}),
              "each prompt length must lie in [1, T]");
  auto decode = [&](int64_t slots, int length) {
    std::vector<Tensor> data;
    data.push_back(intTensor({B, 1}, std::vector<int>(B, 1)));
    if (m.positions)
      data.push_back(intTensor({B, 1}, std::vector<int>(B, 1)));
    const TensorSpec &cache = m.module->findEntry("loss_decode")
                                  ->arguments[m.params.size() + data.size()];
    size_t caches = m.module->findEntry("loss_decode")->arguments.size() -
                    m.params.size() - data.size() - 1;
    for (size_t c = 0; c < caches; ++c) {
      Tensor t(cache.dtype, {B, slots, cache.shape[2]});
      std::memset(t.data(), 0, t.byteSize());
      data.push_back(std::move(t));
    }
    data.push_back(intTensor({B}, {0, length, 0}));
    return withParams(m, std::move(data));
  };
  expectError(check, m, "loss_decode", decode(kMaxLength, kMaxLength),
              "does not fit its cache");
  expectError(check, m, "loss_decode", decode(kMaxLength, -1),
              "does not fit its cache");
  expectError(check, m, "loss_decode", decode(kMaxLength + 1, 0),
              "must have shape");
  // One tensor donated as two caches.
  std::vector<Tensor> args = decode(kMaxLength, 0);
  std::vector<Tensor *> inputs;
  for (Tensor &t : args)
    inputs.push_back(&t);
  const size_t firstCache = inputs.size() - 3;
  inputs[firstCache + 1] = inputs[firstCache];
  std::vector<Tensor> out;
  std::string error;
  if (m.module->runDonating("loss_decode", inputs, out, error) ||
      error.find("is donated twice") == std::string::npos)
    check.fail(m.name + ": a tensor donated twice was not refused: " + error);
  else
    std::printf("%s: runDonating rejected: %s\n", m.name.c_str(),
                error.c_str());
}

/// A model of `layers` causal MoA layers (d=16, E=4, k=2, h=8) with
/// residuals over a token embedding, activations in `dt`, no positions.
std::string layeredModel(int layers, DType dt, int vocab) {
  const std::string V = std::to_string(vocab), T = dtypeName(dt);
  const std::string x = "tensor<?x?x16x" + T + ">";
  const std::string wg = "tensor<16x4xf32>", wq = "tensor<4x16x8x" + T + ">",
                    wk = "tensor<16x8x" + T + ">",
                    wo = "tensor<4x8x16x" + T + ">";
  std::ostringstream os;
  os << "func.func @loss(%emb: tensor<" << V
     << "x16xf32> {moa.param = \"emb\"}";
  for (int l = 0; l < layers; ++l)
    for (auto [name, type] :
         {std::pair{"wg", wg}, {"wq", wq}, {"wk", wk}, {"wv", wk}, {"wo", wo}})
      os << ", %" << name << l << ": " << type << " {moa.param = \"" << name
         << l << "\"}";
  os << ", %wvocab: tensor<16x" << V << "xf32> {moa.param = \"vocab\"}"
     << ", %tokens: tensor<?x?xi32> {moa.name = \"tokens\"})\n"
     << "    -> (tensor<?x?x" << V << "xf32> {moa.name = \"logits\"}) {\n"
     << "  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
     << "  %zero = arith.constant 0.0 : f32\n"
     << "  %b = tensor.dim %tokens, %c0 : tensor<?x?xi32>\n"
     << "  %t = tensor.dim %tokens, %c1 : tensor<?x?xi32>\n"
     << "  %e = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<" << V
     << "x16xf32> -> tensor<?x?x16xf32>\n";
  std::string prev = "%e";
  if (dt != DType::F32) {
    os << "  %x0 = arith.truncf %e : tensor<?x?x16xf32> to " << x << "\n";
    prev = "%x0";
  }
  for (int l = 0; l < layers; ++l) {
    const std::string L = std::to_string(l);
    os << "  %y" << L << ", %r" << L << " = moa.mixture_attention " << prev
       << ", %wg" << L << ", %wq" << L << ", %wk" << L << ", %wv" << L
       << ", %wo" << L << " k(2) {causal}\n      : " << x << ", " << wg << ", "
       << wq << ", " << wk << ", " << wk << ", " << wo << "\n"
       << "  %s" << L << " = arith.addf " << prev << ", %y" << L << " : " << x
       << "\n";
    prev = "%s" + L;
  }
  if (dt != DType::F32) {
    os << "  %out = arith.extf " << prev << " : " << x
       << " to tensor<?x?x16xf32>\n";
    prev = "%out";
  }
  os << "  %empty = tensor.empty(%b, %t) : tensor<?x?x" << V << "xf32>\n"
     << "  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x?x" << V
     << "xf32>) -> tensor<?x?x" << V << "xf32>\n"
     << "  %logits = linalg.contract indexing_maps = [\n"
     << "      affine_map<(b, t, n, c) -> (b, t, c)>,\n"
     << "      affine_map<(b, t, n, c) -> (c, n)>,\n"
     << "      affine_map<(b, t, n, c) -> (b, t, n)>]\n"
     << "      ins(" << prev << ", %wvocab : tensor<?x?x16xf32>, tensor<16x"
     << V << "xf32>) outs(%init : tensor<?x?x" << V << "xf32>) -> tensor<?x?x"
     << V << "xf32>\n"
     << "  return %logits : tensor<?x?x" << V << "xf32>\n}\n";
  return os.str();
}

/// moa-compile's target options (--compile-flags), before the pipeline.
std::string compileFlags;

void checkLayered(Checker &check, const std::string &compiler,
                  const std::string &dir, int layers, DType dt,
                  double tolerance) {
  DecodeModel m;
  m.name = std::to_string(layers) + "-layer " + dtypeName(dt);
  m.positions = false;
  m.vocab = 40;
  std::string error;
  m.module = compileModule(
      compiler, dir + "/layered_" + dtypeName(dt),
      layeredModel(layers, dt, m.vocab), error,
      compileFlags + "--pre-pipeline='moa-generate-decode{max-length=" +
          std::to_string(kMaxLength) + "}'");
  if (!m.module) {
    check.fail(m.name + ": " + error);
    return;
  }
  std::mt19937_64 rng(23 + layers);
  const EntrySpec *loss = m.module->findEntry("loss");
  ref::Buffer emb, gate;
  for (size_t i = 0; i + 1 < loss->arguments.size(); ++i) {
    const TensorSpec &spec = loss->arguments[i];
    ref::Buffer values;
    m.params.push_back(
        randomTensor(rng, spec.dtype, spec.shape, i == 0 ? 1.0 : 0.5, values));
    if (i == 0)
      emb = values;
    if (i == 1)
      gate = values;
  }
  // The first layer routes on the (rounded) embedding alone: redraw the
  // tokens whose choice is close to a tie.
  Sequences s = randomSequences(rng, m.vocab);
  std::uniform_int_distribution<int> id(0, m.vocab - 1);
  auto gap = [&](int token) {
    double logits[4] = {0, 0, 0, 0};
    for (int e = 0; e < 4; ++e)
      for (int c = 0; c < 16; ++c) {
        Tensor one(dt, {1});
        one.set(0, emb[token * 16 + c]);
        logits[e] += one.at(0) * gate[c * 4 + e];
      }
    return selectionGap(logits, 4, 2);
  };
  for (int &token : s.tokens)
    for (int attempt = 0; gap(token) < kMinGap && attempt < 100; ++attempt)
      token = id(rng);
  m.tolerance = tolerance;
  std::vector<double> forward;
  if (!forwardLogits(m, s, forward, error)) {
    check.fail(m.name + " forward: " + error);
    return;
  }
  checkDecoding(check, m, s, forward, tolerance,
                m.name + " vs compiled forward");
}

void checkTinyLM(Checker &check, const std::string &compiler,
                 const std::string &dir, const std::string &source) {
  DecodeModel m;
  m.name = "tiny_lm";
  m.logitsResult = 4;
  std::string error;
  std::string text;
  {
    FILE *f = std::fopen(source.c_str(), "r");
    if (!f) {
      check.fail("cannot read " + source);
      return;
    }
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
      text.append(buffer, n);
    std::fclose(f);
  }
  m.module = compileModule(
      compiler, dir + "/tiny_lm", text, error,
      compileFlags + "--pre-pipeline='moa-generate-decode{max-length=" +
          std::to_string(kMaxLength) + "}'");
  if (!m.module) {
    check.fail("tiny_lm: " + error);
    return;
  }
  ref::TinyLMConfig config;
  m.vocab = config.vocab;
  std::mt19937_64 rng(11);
  ref::TinyLMParameters params;
  auto shapes = ref::TinyLMParameters::shapes(config);
  auto buffers = params.list();
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::vector<int64_t> shape(shapes[i].begin(), shapes[i].end());
    const std::string name = ref::TinyLMParameters::names()[i];
    const bool gain = name.find("_g") != std::string::npos;
    Tensor t =
        randomTensor(rng, DType::F32, shape, gain ? 0.3 : 0.5, *buffers[i]);
    if (gain)
      for (int64_t e = 0; e < t.numElements(); ++e) {
        t.set(e, 1.0 + t.at(e));
        (*buffers[i])[e] = t.at(e);
      }
    m.params.push_back(std::move(t));
  }
  Sequences s = randomSequences(rng, config.vocab);
  ref::TinyLMData data;
  data.batch = int(s.batch);
  data.length = int(s.total);
  Tensor positions = positionsOf(s.batch, s.total);
  std::uniform_int_distribution<int> id(0, config.vocab - 1);
  ref::TinyLMOutputs expected;
  for (int attempt = 0;; ++attempt) {
    data.tokens = s.tokens;
    data.positions.assign(positions.as<int32_t>(),
                          positions.as<int32_t>() + positions.numElements());
    data.targets.assign(s.tokens.size(), -1);
    expected = ref::tinyLMForward(config, params, data);
    bool stable = true;
    for (size_t r = 0; r < s.tokens.size(); ++r)
      if (selectionGap(&expected.routerLogits[r * config.experts],
                       config.experts, config.k) < kMinGap) {
        s.tokens[r] = id(rng);
        stable = false;
      }
    if (stable)
      break;
    if (attempt == 100) {
      check.fail("tiny_lm: no tokens give a stable routing");
      return;
    }
  }
  std::vector<double> forward;
  if (!forwardLogits(m, s, forward, error)) {
    check.fail("tiny_lm forward: " + error);
    return;
  }
  checkDecoding(check, m, s, forward, 1e-5, "tiny_lm f32 vs compiled forward");
  checkDecoding(check, m, s, expected.logits, 1e-4,
                "tiny_lm f32 vs f64 reference");
  checkErrors(check, m, s);
}

} // namespace

int main(int argc, char **argv) {
  // --compile-flags=FLAGS: moa-compile's target options for every module
  // (e.g. "--target=cuda --emulate-gpu": the GPU kernels against the same
  // references).
  const std::string flagsOption = "--compile-flags=";
  if (argc == 5 && std::string(argv[4]).rfind(flagsOption, 0) == 0)
    compileFlags = std::string(argv[4]).substr(flagsOption.size()) + " ";
  else if (argc != 4) {
    std::fprintf(stderr, "usage: moa-decode-test MOA_COMPILE TMPDIR "
                         "TINY_LM.mlir [--compile-flags=FLAGS]\n");
    return 2;
  }
  Checker check(0);
  checkTinyLM(check, argv[1], argv[2], argv[3]);
  checkLayered(check, argv[1], argv[2], 2, DType::F32, 1e-5);
  checkLayered(check, argv[1], argv[2], 2, DType::BF16, 2e-2);
  for (const std::string &failure : check.failures)
    std::printf("FAIL: %s\n", failure.c_str());
  std::printf("decode: %zu failed\n", check.failures.size());
  return check.failures.empty() ? 0 : 1;
}
