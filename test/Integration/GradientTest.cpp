//===- GradientTest.cpp - Compiled gradients against the reference --------===//
//
// Checks the functions moa-generate-gradients adds (@f_grad for every public
// @f) on the CPU target, four ways:
//
//  1. Layer gradients: one f32 moa.mixture_attention per configuration (the
//     configurations are functions of two modules, each compiled once with
//     --pre-pipeline=moa-generate-gradients), @l<i>_grad run at two (B, T, S)
//     shapes with random dy and d(router logits), and every gradient (dx,
//     dmemory, dW_gate, dW_query, dW_key, dW_value, dW_out) compared with
//     reference::mixtureAttentionBackward: max abs error / max abs reference
//     value <= 1e-4 (f32 compiled code against the f64 reference). The larger
//     shape has more than 128 (token, slot) rows per batch and, for some
//     configurations, more than 256 keys, so that the tiled paths run.
//  2. Primitive gradients: moa.layer_norm, moa.embedding, moa.cross_entropy
//     (with ignored targets), moa.load_balancing_loss and moa.router_z_loss
//     (with query padding), moa.route, a scalar combination of the two
//     auxiliary losses, a chain embedding -> layer_norm -> cross_entropy, and
//     moa.importance_cv_loss of moa.route's gates (forward value and
//     gradient; query padding, every token padded, renormalised gates, one
//     expert), and moa.mutual_information_loss of router logits (forward
//     value and gradient; query padding, none, every token padded, one
//     expert), against the reference (backward) functions (1e-4); and a
//     batch split in two halves as moa-data-parallel splits it:
//     moa.routing_statistics of each half and of the whole, and each half's
//     load-balancing loss and gradient given the whole's statistics, which
//     are the whole batch's loss and that half's rows of its gradient.
//  3. Directional finite differences on the compiled f32 code alone (no
//     reference involved): <grad, u> against the central difference of
//     F = sum(dy * y) + sum(dLogits * logits) computed with the compiled
//     forward entry, for a random direction u over every float input.
//  4. Error paths: an embedding id or a cross-entropy target outside the
//     vocabulary makes Module::run fail with a message saying so.
//  5. The example model: examples/tiny_lm.mlir (read from the source tree,
//     --tiny-lm=PATH) compiled with moa-generate-gradients{functions=loss};
//     @loss against reference::tinyLMForward and @loss_grad against
//     reference::tinyLMBackward for all 16 parameters (1e-4), at two shapes.
//  6. The same in mixed precision (mixed-precision=bf16) against the
//     reference with the same bf16 rounding points (TinyLMConfig::rounding;
//     compiled for the GPU, its tensor-core attention's probabilities too;
//     1e-4 at the small shape, 2^-7 at the larger), which must be more than
//     twice that far from the unrounded reference.
//
// Routing is not differentiable where two router probabilities tie, and the
// compiled f32 logits differ from the reference's f64 ones by ~1e-6: every
// token whose k-th and (k+1)-th largest logits are closer than kMinGap is
// redrawn, so that the compiled code and the reference select the same
// experts, and so that the finite differences (which move a logit by ~0.03)
// rarely cross a routing change.
//
// usage: moa-gradient-test MOA_COMPILE WORKDIR [FILTER]
//            [--tiny-lm=SRC/examples/tiny_lm.mlir]
// (FILTER: a substring of the layer configurations' names, "primitives" or
// "tiny_lm"; check 5 runs only with --tiny-lm.)
//
//===----------------------------------------------------------------------===//

#include "MoAReference.h"
#include "MoAReferenceGrad.h"
#include "TestSupport.h"
#include "TinyLMReference.h"
#include "runtime/Runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace moa;
using namespace moa::runtime;
using namespace moa::test;
namespace ref = moa::reference;

namespace {

constexpr double kTolerance = 1e-4;
/// Mixed precision against the reference of the same rounding points: where
/// an f32 result and the f64 one lie on two sides of a bf16 rounding
/// boundary they round one bf16 step apart (up to 2^-7 relative), and the
/// step travels on. At B=4 T=64 that happens (measured up to 1.9e-3 on the
/// CPU, 3.7e-3 on the GPU emulator, against 6.5e-2 from the unrounded
/// reference and 3e-2 for the GPU's gradients from a reference without its
/// rounded probabilities); at B=2 T=7 no value lands that close to a
/// boundary (measured 5.6e-7), so there a rounding point one side has and
/// the other lacks (2^-9 relative or more) cannot hide: 1e-4.
constexpr double kMixedTolerance = 0x1p-7, kMixedSmallTolerance = 1e-4;
constexpr double kMinGap = 0.25;

//===----------------------------------------------------------------------===//
// Results
//===----------------------------------------------------------------------===//

struct Results {
  int checks = 0, failed = 0, fdSkipped = 0;
  /// Worst relative error per gradient name over all checks.
  std::map<std::string, double> worst;

  void report(const std::string &what, const std::vector<std::string> &errors,
              const std::string &detail) {
    ++checks;
    if (errors.empty()) {
      std::printf("PASS %s%s\n", what.c_str(), detail.c_str());
      return;
    }
    ++failed;
    std::printf("FAIL %s%s:", what.c_str(), detail.c_str());
    for (const std::string &e : errors)
      std::printf(" [%s]", e.c_str());
    std::printf("\n");
  }
};

/// Compares a compiled gradient with the reference: appends a message to
/// `errors` if the relative error (max abs error / max abs reference) is
/// above the tolerance, records it in `results.worst` and returns it.
double compare(Results &results, const std::string &name, const Tensor &actual,
               const ref::Buffer &expected, std::vector<std::string> &errors,
               double tolerance = kTolerance) {
  if (actual.numElements() != int64_t(expected.size())) {
    errors.push_back(name + ": " + std::to_string(actual.numElements()) +
                     " elements, expected " + std::to_string(expected.size()));
    return INFINITY;
  }
  double maxError = 0, maxValue = 0;
  int64_t worstAt = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double a = actual.at(i);
    if (!std::isfinite(a)) {
      errors.push_back(name + ": " + std::to_string(a) + " at element " +
                       std::to_string(i));
      return INFINITY;
    }
    const double e = std::fabs(a - expected[i]);
    if (e > maxError) {
      maxError = e;
      worstAt = int64_t(i);
    }
    maxValue = std::max(maxValue, std::fabs(expected[i]));
  }
  // An all-zero reference must be matched exactly.
  const double relative =
      maxValue > 0 ? maxError / maxValue : (maxError > 0 ? INFINITY : 0.0);
  double &w = results.worst[name];
  w = std::max(w, relative);
  if (!(relative <= tolerance)) {
    char buffer[256];
    std::snprintf(buffer, sizeof(buffer),
                  "%s: relative error %.3e (max |ref| %.3e; worst element %lld:"
                  " %.6e, expected %.6e)",
                  name.c_str(), relative, maxValue, (long long)worstAt,
                  actual.at(worstAt), expected[worstAt]);
    errors.push_back(buffer);
  }
  return relative;
}

Tensor copyOf(const Tensor &t) {
  Tensor c(t.dtype(), t.shape());
  std::memcpy(c.data(), t.data(), t.byteSize());
  return c;
}

Tensor scalar(double value) {
  Tensor t(DType::F32, {});
  t.set(0, value);
  return t;
}

ref::Buffer scaled(ref::Buffer b, double factor) {
  for (double &v : b)
    v *= factor;
  return b;
}

std::string format(const char *fmt, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), fmt, value);
  return buffer;
}

/// The experts a token selects from its logits (as a sorted set): top k,
/// ties to the lower index.
std::vector<int> selectedExperts(const double *logits, int experts, int k) {
  std::vector<int> order(experts);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return logits[a] > logits[b]; });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

/// Gap between the k-th and (k+1)-th largest of `experts` logits (infinite
/// for k = E, where the selection cannot change).
double selectionGap(const double *logits, int experts, int k) {
  if (k >= experts)
    return INFINITY;
  std::vector<double> sorted(logits, logits + experts);
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  return sorted[k - 1] - sorted[k];
}

//===----------------------------------------------------------------------===//
// 1 and 3: the layer
//===----------------------------------------------------------------------===//

struct Shape {
  int batch, queryLength, keyLength; // keyLength: cross-attention only
};

struct Config {
  std::string name;
  int d, experts, k, h;
  bool cross = false, causal = false, keyPadding = false, queryPadding = false;
  bool fullyMaskedRow = false, topkSoftmax = false, renormalize = false;
  std::optional<double> scale;
  Shape large; // the second shape (the first is kSmall)
};

constexpr Shape kSmall = {2, 7, 11};

/// Random inputs of one configuration at one shape, as runtime tensors and
/// as the reference's buffers (the rounded f32 values). Not movable: `in`
/// points into the object.
struct LayerCase {
  LayerCase() = default;
  LayerCase(const LayerCase &) = delete;

  ref::LayerInputs in;
  ref::LayerOptions options;
  ref::Buffer memory;
  ref::Mask keyPadding, queryPadding;
  std::vector<Tensor> args;       // the forward entry's arguments
  std::vector<int> floatArgs;     // positions of the float arguments
  std::vector<double> amplitudes; // per float argument
  ref::Buffer dy, dLogits;
  Tensor dyTensor, dLogitsTensor;
  int redrawn = 0; // x rows redrawn for a routing gap (attempts)
};

std::unique_ptr<LayerCase> makeCase(const Config &c, const Shape &shape,
                                    std::mt19937_64 &rng) {
  auto lc = std::make_unique<LayerCase>();
  const int B = shape.batch, T = shape.queryLength;
  const int S = c.cross ? shape.keyLength : T;
  ref::LayerInputs &in = lc->in;
  in.batch = B;
  in.queryLength = T;
  in.keyLength = S;
  in.d = c.d;
  in.experts = c.experts;
  in.h = c.h;
  std::vector<Tensor> &args = lc->args;
  const double w = 1.0 / std::sqrt(double(c.d));
  lc->amplitudes = {1.0, 1.0, w, w, w, 1.0 / std::sqrt(double(c.h))};
  args.push_back(randomTensor(rng, DType::F32, {B, T, c.d}, 1.0, in.x));
  args.push_back(
      randomTensor(rng, DType::F32, {c.d, c.experts}, 1.0, in.wGate));
  args.push_back(
      randomTensor(rng, DType::F32, {c.experts, c.d, c.h}, w, in.wQuery));
  args.push_back(randomTensor(rng, DType::F32, {c.d, c.h}, w, in.wKey));
  args.push_back(randomTensor(rng, DType::F32, {c.d, c.h}, w, in.wValue));
  args.push_back(randomTensor(rng, DType::F32, {c.experts, c.h, c.d},
                              lc->amplitudes[5], in.wOut));
  lc->floatArgs = {0, 1, 2, 3, 4, 5};

  // Redraw the x rows whose top-k choice is within kMinGap of a tie.
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  for (int t = 0; t < B * T; ++t)
    for (;;) {
      const ref::Buffer xRow(in.x.begin() + size_t(t) * c.d,
                             in.x.begin() + size_t(t + 1) * c.d);
      const ref::Buffer l = ref::matmul(xRow, in.wGate, 1, c.d, c.experts);
      if (selectionGap(l.data(), c.experts, c.k) >= kMinGap)
        break;
      ++lc->redrawn;
      for (int i = 0; i < c.d; ++i) {
        args[0].set(size_t(t) * c.d + i, uniform(rng));
        in.x[size_t(t) * c.d + i] = args[0].at(size_t(t) * c.d + i);
      }
    }

  if (c.cross) {
    lc->floatArgs.push_back(int(args.size()));
    lc->amplitudes.push_back(1.0);
    args.push_back(randomTensor(rng, DType::F32, {B, S, c.d}, 1.0, lc->memory));
    in.memory = &lc->memory;
  }
  if (c.keyPadding) {
    args.push_back(randomMask(rng, {B, S}, 0.25, lc->keyPadding));
    if (c.fullyMaskedRow) // every key of batch 0 is padding
      for (int s = 0; s < S; ++s) {
        lc->keyPadding[s] = 1;
        args.back().set(s, 1);
      }
    in.keyPadding = &lc->keyPadding;
  }
  if (c.queryPadding) {
    args.push_back(randomMask(rng, {B, T}, 0.25, lc->queryPadding));
    in.queryPadding = &lc->queryPadding;
  }
  lc->options.k = c.k;
  lc->options.topkSoftmax = c.topkSoftmax;
  lc->options.renormalize = c.renormalize;
  lc->options.causal = c.causal;
  lc->options.scale = c.scale;

  lc->dyTensor = randomTensor(rng, DType::F32, {B, T, c.d}, 1.0, lc->dy);
  lc->dLogitsTensor =
      randomTensor(rng, DType::F32, {B, T, c.experts}, 1.0, lc->dLogits);
  return lc;
}

/// Check 1: @<fn>_grad against reference::mixtureAttentionBackward.
void checkLayerGradients(const Module &module, const Config &c,
                         const std::string &fn, const Shape &shape,
                         const LayerCase &lc, Results &results) {
  std::vector<const Tensor *> args;
  for (const Tensor &a : lc.args)
    args.push_back(&a);
  args.push_back(&lc.dyTensor);
  args.push_back(&lc.dLogitsTensor);
  std::vector<Tensor> out;
  std::string error;
  std::vector<std::string> errors;
  char what[160];
  std::snprintf(what, sizeof(what), "layer gradients %s (B=%d T=%d S=%d)",
                c.name.c_str(), shape.batch, shape.queryLength,
                lc.in.keyLength);
  if (!module.run(fn + "_grad", args, out, error)) {
    results.report(what, {error}, "");
    return;
  }
  const size_t expectedOutputs = c.cross ? 7 : 6;
  if (out.size() != expectedOutputs) {
    results.report(what,
                   {std::to_string(out.size()) + " results, expected " +
                    std::to_string(expectedOutputs)},
                   "");
    return;
  }
  const ref::LayerGradients g =
      ref::mixtureAttentionBackward(lc.in, lc.options, lc.dy, &lc.dLogits);
  const std::vector<std::pair<std::string, const ref::Buffer *>> expected = {
      {"dx", &g.dx},
      {"dW_gate", &g.dWGate},
      {"dW_query", &g.dWQuery},
      {"dW_key", &g.dWKey},
      {"dW_value", &g.dWValue},
      {"dW_out", &g.dWOut},
      {"dmemory", &g.dMemory}};
  std::string detail = ":";
  for (size_t i = 0; i < expectedOutputs; ++i) {
    const double r = compare(results, expected[i].first, out[i],
                             *expected[i].second, errors);
    detail += " " + expected[i].first + " " + format("%.1e", r);
  }
  detail += " (" + std::to_string(lc.redrawn) + " x-row redraws)";
  results.report(what, errors, detail);
}

/// F = sum(dy * y) + sum(dLogits * logits) from the compiled forward entry,
/// and the top-k set of every non-padded token from its logits.
bool forwardScalar(const Module &module, const std::string &fn, const Config &c,
                   const LayerCase &lc, const std::vector<Tensor> &args,
                   double &value, std::vector<std::vector<int>> &selection,
                   std::string &error) {
  std::vector<Tensor> out;
  if (!module.run(fn, args, out, error))
    return false;
  value = 0;
  for (int64_t i = 0; i < out[0].numElements(); ++i)
    value += lc.dy[i] * out[0].at(i);
  for (int64_t i = 0; i < out[1].numElements(); ++i)
    value += lc.dLogits[i] * out[1].at(i);
  const ref::Buffer logits = toBuffer(out[1]);
  const int tokens = lc.in.batch * lc.in.queryLength;
  selection.assign(tokens, {});
  for (int t = 0; t < tokens; ++t)
    if (!(c.queryPadding && lc.queryPadding[t]))
      selection[t] =
          selectedExperts(&logits[size_t(t) * c.experts], c.experts, c.k);
  return true;
}

/// Check 3: directional derivatives of the compiled gradient against
/// central differences of the compiled forward.
///
/// Directions: one random u over all float inputs together, then one over
/// each float input alone (the others held), which tells which gradient is
/// off if one is: a 5% error in one gradient moves the all-inputs check by
/// as little as ~1e-3, but its own direction by 5e-2.
///
/// u is uniform in [-a, a] per element, a the amplitude of the argument's
/// random values (1 for x, memory and w_gate; 1/sqrt(d) or 1/sqrt(h) for the
/// projections), and eps = 1e-2, so that every input moves by ~1% of its
/// size. Both sides use the rounded f32 points x+ = fl(x + eps u) and
/// x- = fl(x - eps u): the analytic side is <grad, (x+ - x-) / 2>, the
/// numeric side (F(x+) - F(x-)) / 2, which removes the rounding of the step
/// itself. What remains:
///   - truncation, eps^2/6 |F'''(u, u, u)| / |F'(u)|: ~1e-5 for this
///     smooth function of O(1) inputs (attention softmax, router softmax);
///   - f32 noise in F: every y and logit carries ~1e-7..1e-6 relative
///     error, so F(x+/-) (a sum of n ~ 500 to 17000 products with random
///     signs) carries ~1e-6 sqrt(n) |dy||y| at worst, of which the
///     difference keeps the part not common to both points; against the
///     O(eps sqrt(n_inputs)) change of F that is 1e-4 at worst (measured:
///     below 1e-4).
/// The terms g_i u_i of <grad, u> have random signs and may cancel, which
/// would blow the noise up relative to |<grad, u>|; the error is therefore
/// taken relative to max(|<grad, u>|, root sum of squares of the terms), the
/// typical size of <grad, u> for a random u. Tolerance 2e-3: over ten times
/// the expected f32 noise, while a wrong gradient term (a missing path, a
/// wrong scale or sign) is an O(1e-2..1) error in its own direction.
/// If any non-padded token selects other experts at x+ or x- than at x, F
/// is not differentiable along the segment and that direction is skipped
/// (and counted).
void checkFiniteDifference(const Module &module, const Config &c,
                           const std::string &fn, const Shape &shape,
                           const LayerCase &lc, uint64_t seed,
                           Results &results) {
  constexpr double eps = 1e-2, tolerance = 2e-3;
  static const char *const names[] = {"x",       "w_gate", "w_query", "w_key",
                                      "w_value", "w_out",  "memory"};
  char what[160];
  std::snprintf(what, sizeof(what), "finite differences %s (B=%d T=%d S=%d)",
                c.name.c_str(), shape.batch, shape.queryLength,
                lc.in.keyLength);
  // The gradient at x, for the same dy and dLogits that define F, and the
  // routing at x.
  std::vector<const Tensor *> gradArgs;
  for (const Tensor &a : lc.args)
    gradArgs.push_back(&a);
  gradArgs.push_back(&lc.dyTensor);
  gradArgs.push_back(&lc.dLogitsTensor);
  std::vector<Tensor> grads, args0;
  for (const Tensor &a : lc.args)
    args0.push_back(copyOf(a));
  std::string error;
  double f0;
  std::vector<std::vector<int>> s0;
  if (!module.run(fn + "_grad", gradArgs, grads, error) ||
      !forwardScalar(module, fn, c, lc, args0, f0, s0, error)) {
    results.report(what, {error}, "");
    return;
  }

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<std::string> errors;
  std::string detail = ":";
  const int directions = 1 + int(lc.floatArgs.size());
  for (int direction = 0; direction < directions; ++direction) {
    // Direction 0 moves every float argument, direction f + 1 argument f.
    auto moves = [&](size_t f) {
      return direction == 0 || direction == int(f) + 1;
    };
    const std::string name = direction == 0 ? "all" : names[direction - 1];
    std::vector<Tensor> plus, minus;
    for (const Tensor &a : lc.args) {
      plus.push_back(copyOf(a));
      minus.push_back(copyOf(a));
    }
    for (size_t f = 0; f < lc.floatArgs.size(); ++f) {
      if (!moves(f))
        continue;
      const int i = lc.floatArgs[f];
      for (int64_t e = 0; e < lc.args[i].numElements(); ++e) {
        const double u = lc.amplitudes[f] * uniform(rng);
        plus[i].set(e, lc.args[i].at(e) + eps * u);
        minus[i].set(e, lc.args[i].at(e) - eps * u);
      }
    }
    double fPlus, fMinus;
    std::vector<std::vector<int>> sPlus, sMinus;
    if (!forwardScalar(module, fn, c, lc, plus, fPlus, sPlus, error) ||
        !forwardScalar(module, fn, c, lc, minus, fMinus, sMinus, error)) {
      errors.push_back(name + ": " + error);
      continue;
    }
    if (s0 != sPlus || s0 != sMinus) {
      ++results.fdSkipped;
      detail += " " + name + " skipped (the routing changes within +-eps)";
      continue;
    }
    double analytic = 0, squares = 0;
    for (size_t f = 0; f < lc.floatArgs.size(); ++f) {
      if (!moves(f))
        continue;
      const int i = lc.floatArgs[f];
      for (int64_t e = 0; e < lc.args[i].numElements(); ++e) {
        const double term =
            grads[f].at(e) * (plus[i].at(e) - minus[i].at(e)) / 2;
        analytic += term;
        squares += term * term;
      }
    }
    const double numeric = (fPlus - fMinus) / 2;
    const double size = std::max(std::fabs(analytic), std::sqrt(squares));
    const double relative =
        std::fabs(numeric - analytic) / std::max(size, 1e-30);
    double &w = results.worst["finite difference (" + name + ")"];
    w = std::max(w, relative);
    detail += " " + name + " " + format("%.1e", relative);
    if (!(relative <= tolerance)) {
      char buffer[240];
      std::snprintf(buffer, sizeof(buffer),
                    "%s: <grad, u> = %.9e (terms' root sum of squares %.3e), "
                    "central difference %.9e: relative error %.3e",
                    name.c_str(), analytic, std::sqrt(squares), numeric,
                    relative);
      errors.push_back(buffer);
    }
  }
  results.report(what, errors, detail);
}

std::vector<Config> configs() {
  auto make = [](std::string name, int d, int e, int k, int h, Shape large) {
    Config c;
    c.name = std::move(name);
    c.d = d;
    c.experts = e;
    c.k = k;
    c.h = h;
    c.large = large;
    return c;
  };
  // Large shapes: T = 100 with k = 2 is 200 (token, slot) rows per batch
  // (two 128-row tiles); S or T = 300 spans two 256-key blocks.
  // (The configurations with a fully masked row need B = 2: batch 0 has no
  // visible key.)
  const Shape rows = {2, 100, 40}, keys = {1, 70, 300}, both = {1, 300, 300},
              both2 = {2, 260, 260};
  std::vector<Config> all;
  all.push_back(make("E1-k1-h8-d16", 16, 1, 1, 8, rows));
  all.push_back(make("E4-k1-h32-d32", 32, 4, 1, 32, both));
  Config c = make("E4-k2-h32-d32-renormalize", 32, 4, 2, 32, rows);
  c.renormalize = true;
  all.push_back(c);
  c = make("E4-k4-h8-d16", 16, 4, 4, 8, rows);
  all.push_back(c);
  c = make("E8-k2-h32-d32-causal", 32, 8, 2, 32, both);
  c.causal = true;
  all.push_back(c);
  c = make("E8-k2-h8-d16-key-padding-fully-masked-row", 16, 8, 2, 8, rows);
  c.keyPadding = c.fullyMaskedRow = true;
  all.push_back(c);
  c = make("E8-k2-h32-d32-query-padding", 32, 8, 2, 32, rows);
  c.queryPadding = true;
  all.push_back(c);
  c = make("E8-k2-h8-d32-topk-softmax", 32, 8, 2, 8, rows);
  c.topkSoftmax = true;
  all.push_back(c);
  c = make("E8-k8-h8-d16-topk-softmax-renormalize", 16, 8, 8, 8, rows);
  c.topkSoftmax = c.renormalize = true;
  all.push_back(c);
  c = make("E4-k2-h32-d32-cross", 32, 4, 2, 32, {2, 100, 300});
  c.cross = true;
  all.push_back(c);
  c = make("E8-k1-h32-d16-scale", 16, 8, 1, 32, rows);
  c.scale = 0.2;
  all.push_back(c);
  c = make("E4-k2-h8-d32-cross-causal-both-masks-topk-softmax-renormalize", 32,
           4, 2, 8, keys);
  c.cross = c.causal = c.keyPadding = c.queryPadding = c.topkSoftmax =
      c.renormalize = true;
  all.push_back(c);
  c = make("E8-k2-h32-d32-causal-both-masks-fully-masked-row-renormalize", 32,
           8, 2, 32, both2);
  c.causal = c.keyPadding = c.queryPadding = c.fullyMaskedRow = c.renormalize =
      true;
  all.push_back(c);
  c = make("E1-k1-h32-d16-cross-key-padding-scale", 16, 1, 1, 32, keys);
  c.cross = c.keyPadding = true;
  c.scale = 0.5;
  all.push_back(c);
  return all;
}

//===----------------------------------------------------------------------===//
// 2 and 4: primitives
//===----------------------------------------------------------------------===//

constexpr int kD = 24, kVocab = 40, kE = 8, kK = 2;

std::string primitivesModule() {
  const std::string D = std::to_string(kD), V = std::to_string(kVocab),
                    E = std::to_string(kE), K = std::to_string(kK);
  const std::string x = "tensor<?x?x" + D + "xf32>",
                    vec = "tensor<" + D + "xf32>";
  const std::string table = "tensor<" + V + "x" + D + "xf32>";
  const std::string ids = "tensor<?x?xi32>", mask = "tensor<?x?xi1>";
  const std::string vocabLogits = "tensor<?x?x" + V + "xf32>";
  const std::string logits = "tensor<?x?x" + E + "xf32>";
  const std::string idx = "tensor<?x?x" + K + "xi32>";
  const std::string gates = "tensor<?x?x" + K + "xf32>";
  std::ostringstream os;
  os << "func.func @ln(%x: " << x << ", %g: " << vec << ", %b: " << vec
     << ") -> " << x << " {\n  %y = moa.layer_norm %x, %g, %b : " << x << ", "
     << vec << "\n  return %y : " << x << "\n}\n";
  os << "func.func @ln_eps(%x: " << x << ", %g: " << vec << ", %b: " << vec
     << ") -> " << x << " {\n  %y = moa.layer_norm %x, %g, %b "
     << "{epsilon = 1.000000e-01 : f32} : " << x << ", " << vec
     << "\n  return %y : " << x << "\n}\n";
  os << "func.func @embed(%i: " << ids << ", %t: " << table << ") -> " << x
     << " {\n  %x = moa.embedding %i, %t : " << ids << ", " << table << " -> "
     << x << "\n  return %x : " << x << "\n}\n";
  os << "func.func @ce(%l: " << vocabLogits << ", %t: " << ids
     << ") -> tensor<f32> {\n  %c = moa.cross_entropy %l, %t : " << vocabLogits
     << ", " << ids << "\n  return %c : tensor<f32>\n}\n";
  os << "func.func @lb(%l: " << logits << ", %i: " << idx << ", %m: " << mask
     << ") -> tensor<f32> {\n  %a = moa.load_balancing_loss %l, %i "
     << "query_padding_mask(%m : " << mask << ") : " << logits << ", " << idx
     << "\n  return %a : tensor<f32>\n}\n";
  os << "func.func @lb_unmasked(%l: " << logits << ", %i: " << idx
     << ") -> tensor<f32> {\n  %a = moa.load_balancing_loss %l, %i : " << logits
     << ", " << idx << "\n  return %a : tensor<f32>\n}\n";
  os << "func.func @z(%l: " << logits << ", %m: " << mask
     << ") -> tensor<f32> {\n  %z = moa.router_z_loss %l "
     << "query_padding_mask(%m : " << mask << ") : " << logits
     << "\n  return %z : tensor<f32>\n}\n";
  os << "func.func @z_unmasked(%l: " << logits
     << ") -> tensor<f32> {\n  %z = moa.router_z_loss %l : " << logits
     << "\n  return %z : tensor<f32>\n}\n";
  // a + 0.01 z: the scalar arithmetic a training loss is made of.
  os << "func.func @aux(%l: " << logits << ", %i: " << idx << ", %m: " << mask
     << ") -> tensor<f32> {\n  %a = moa.load_balancing_loss %l, %i "
     << "query_padding_mask(%m : " << mask << ") : " << logits << ", " << idx
     << "\n  %z = moa.router_z_loss %l query_padding_mask(%m : " << mask
     << ") : " << logits
     << "\n  %c = arith.constant dense<1.000000e-02> : tensor<f32>"
     << "\n  %cz = arith.mulf %c, %z : tensor<f32>"
     << "\n  %s = arith.addf %a, %cz : tensor<f32>"
     << "\n  return %s : tensor<f32>\n}\n";
  os << "func.func @route(%l: " << logits << ", %m: " << mask << ") -> (" << idx
     << ", " << gates << ") {\n  %i, %g = moa.route %l k(" << K
     << ") query_padding_mask(%m : " << mask << ") : " << logits
     << "\n  return %i, %g : " << idx << ", " << gates << "\n}\n";
  os << "func.func @route_topk_softmax(%l: " << logits << ", %m: " << mask
     << ") -> (" << idx << ", " << gates << ") {\n  %i, %g = moa.route %l k("
     << K << ") query_padding_mask(%m : " << mask
     << ") {gating = #moa.gating<topk_softmax>, renormalize} : " << logits
     << "\n  return %i, %g : " << idx << ", " << gates << "\n}\n";
  os << "func.func @route_renormalize(%l: " << logits << ") -> (" << idx << ", "
     << gates << ") {\n  %i, %g = moa.route %l k(" << K
     << ") {renormalize} : " << logits << "\n  return %i, %g : " << idx << ", "
     << gates << "\n}\n";
  // The importance CV^2 loss of a router's gates: with query padding
  // (indices -1), with renormalised gates, and with one expert (constant 0).
  os << "func.func @cv(%l: " << logits << ", %m: " << mask
     << ") -> tensor<f32> {\n  %i, %g = moa.route %l k(" << K
     << ") query_padding_mask(%m : " << mask << ") : " << logits
     << "\n  %c = moa.importance_cv_loss %g, %i experts(" << E
     << ") : " << gates << ", " << idx << "\n  return %c : tensor<f32>\n}\n";
  os << "func.func @cv_renormalize(%l: " << logits
     << ") -> tensor<f32> {\n  %i, %g = moa.route %l k(" << K
     << ") {renormalize} : " << logits
     << "\n  %c = moa.importance_cv_loss %g, %i experts(" << E
     << ") : " << gates << ", " << idx << "\n  return %c : tensor<f32>\n}\n";
  {
    const std::string logits1 = "tensor<?x?x1xf32>", idx1 = "tensor<?x?x1xi32>",
                      gates1 = "tensor<?x?x1xf32>";
    os << "func.func @cv_one_expert(%l: " << logits1
       << ") -> tensor<f32> {\n  %i, %g = moa.route %l k(1) : " << logits1
       << "\n  %c = moa.importance_cv_loss %g, %i experts(1) : " << gates1
       << ", " << idx1 << "\n  return %c : tensor<f32>\n}\n";
  }
  // The mutual information loss of router logits: with query padding,
  // without, and with one expert (constant 0).
  os << "func.func @mi(%l: " << logits << ", %m: " << mask
     << ") -> tensor<f32> {\n  %c = moa.mutual_information_loss %l "
     << "query_padding_mask(%m : " << mask << ") : " << logits
     << "\n  return %c : tensor<f32>\n}\n";
  os << "func.func @mi_unmasked(%l: " << logits
     << ") -> tensor<f32> {\n  %c = moa.mutual_information_loss %l : " << logits
     << "\n  return %c : tensor<f32>\n}\n";
  os << "func.func @mi_one_expert(%l: tensor<?x?x1xf32>) -> tensor<f32> {\n"
     << "  %c = moa.mutual_information_loss %l : tensor<?x?x1xf32>\n"
     << "  return %c : tensor<f32>\n}\n";
  // embedding -> layer_norm -> cross_entropy (the d features as the logits):
  // the adjoints of a chain of the model ops.
  os << "func.func @chain(%i: " << ids << ", %t: " << table << ", %g: " << vec
     << ", %b: " << vec << ", %y: " << ids
     << ") -> tensor<f32> {\n  %x = moa.embedding %i, %t : " << ids << ", "
     << table << " -> " << x << "\n  %n = moa.layer_norm %x, %g, %b : " << x
     << ", " << vec << "\n  %c = moa.cross_entropy %n, %y : " << x << ", "
     << ids << "\n  return %c : tensor<f32>\n}\n";
  return os.str();
}

/// Targets in [0, vocab) with about a quarter -1 (ignored).
std::vector<int> randomTargets(std::mt19937_64 &rng, int count, int vocab,
                               double ignored = 0.25) {
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  std::bernoulli_distribution ignore(ignored);
  std::vector<int> t(count);
  for (int &v : t)
    v = ignore(rng) ? -1 : pick(rng);
  return t;
}

/// Router logits [tokens, E] whose top-k choice is at least kMinGap from a
/// tie (redrawn rows otherwise).
Tensor routerLogits(std::mt19937_64 &rng, int batch, int length,
                    ref::Buffer &values) {
  Tensor t = randomTensor(rng, DType::F32, {batch, length, kE}, 2.0, values);
  std::uniform_real_distribution<double> uniform(-2.0, 2.0);
  for (int r = 0; r < batch * length; ++r)
    while (selectionGap(&values[size_t(r) * kE], kE, kK) < kMinGap)
      for (int e = 0; e < kE; ++e) {
        t.set(size_t(r) * kE + e, uniform(rng));
        values[size_t(r) * kE + e] = t.at(size_t(r) * kE + e);
      }
  return t;
}

/// Runs `entry` and compares its results with `expected` (name, buffer).
void runAndCompare(
    const Module &module, Results &results, const std::string &what,
    const std::string &entry, const std::vector<const Tensor *> &args,
    const std::vector<std::pair<std::string, ref::Buffer>> &expected) {
  std::vector<Tensor> out;
  std::string error;
  if (!module.run(entry, args, out, error)) {
    results.report(what, {entry + ": " + error}, "");
    return;
  }
  if (out.size() != expected.size()) {
    results.report(what,
                   {entry + ": " + std::to_string(out.size()) +
                    " results, expected " + std::to_string(expected.size())},
                   "");
    return;
  }
  std::vector<std::string> errors;
  std::string detail = ":";
  for (size_t i = 0; i < expected.size(); ++i) {
    const double r =
        compare(results, expected[i].first, out[i], expected[i].second, errors);
    detail += " " + expected[i].first + " " + format("%.1e", r);
  }
  results.report(what, errors, detail);
}

/// moa.routing_statistics and the load-balancing loss and gradient given
/// statistics: compiled as they are (no gradients generated).
std::string statisticsModule() {
  const std::string logits = tensorType({"?", "?", std::to_string(kE)});
  const std::string idx =
      tensorType({"?", "?", std::to_string(kK)}, DType::I32);
  const std::string mask = tensorType({"?", "?"}, DType::I1);
  const std::string stats = tensorType({"2", std::to_string(kE)});
  std::ostringstream os;
  os << "func.func @stats(%l: " << logits << ", %i: " << idx << ", %m: " << mask
     << ") -> " << stats << " {\n  %s = moa.routing_statistics %l, "
     << "%i query_padding_mask(%m : " << mask << ") : " << logits << ", " << idx
     << "\n  return %s : " << stats << "\n}\n";
  os << "func.func @lb_given(%l: " << logits << ", %i: " << idx
     << ", %m: " << mask << ", %s: " << stats << ") -> tensor<f32> {\n"
     << "  %a = moa.load_balancing_loss %l, %i query_padding_mask(%m : " << mask
     << ") statistics(%s : " << stats << ") : " << logits << ", " << idx
     << "\n  return %a : tensor<f32>\n}\n";
  os << "func.func @lb_given_grad(%l: " << logits << ", %i: " << idx
     << ", %m: " << mask << ", %s: " << stats << ", %d: tensor<f32>) -> "
     << logits << " {\n  %g = moa.load_balancing_loss_grad %l, %i, %d "
     << "query_padding_mask(%m : " << mask << ") statistics(%s : " << stats
     << ") : " << logits << ", " << idx << "\n  return %g : " << logits
     << "\n}\n";
  return os.str();
}

/// P_e (row 0) and c_e (row 1) of the load-balancing loss over rows
/// [first, last) that are not padded: plain loops in f64.
ref::Buffer routingStatistics(const ref::Buffer &logits,
                              const std::vector<int> &indices,
                              const ref::Mask &padding, int first, int last) {
  ref::Buffer stats(2 * kE, 0.0);
  for (int r = first; r < last; ++r) {
    if (padding[r])
      continue;
    const double *row = &logits[size_t(r) * kE];
    const double top = *std::max_element(row, row + kE);
    double sum = 0;
    for (int e = 0; e < kE; ++e)
      sum += std::exp(row[e] - top);
    for (int e = 0; e < kE; ++e)
      stats[e] += std::exp(row[e] - top) / sum;
    for (int j = 0; j < kK; ++j)
      if (int e = indices[size_t(r) * kK + j]; e >= 0)
        stats[kE + e] += 1;
  }
  return stats;
}

/// Rows [first, last) of a [rows, width] tensor, as a [n, length, width]
/// tensor (width 0: a [n, length] one).
Tensor rowsOf(const Tensor &t, int first, int last, int length, int width) {
  std::vector<int64_t> shape = {(last - first) / length, length};
  if (width)
    shape.push_back(width);
  Tensor part(t.dtype(), shape);
  const int64_t rowBytes = dtypeSize(t.dtype()) * std::max(width, 1);
  std::memcpy(part.data(),
              static_cast<const char *>(t.data()) + first * rowBytes,
              (last - first) * rowBytes);
  return part;
}

/// A batch split in two halves by sequence (what moa-data-parallel gives
/// two ranks): moa.routing_statistics of each half and of the whole, and
/// each half's load-balancing loss and gradient given the whole batch's
/// statistics, which must be the whole batch's loss and that half's rows
/// of the whole batch's gradient.
void checkSplitBatch(const Module &module, int batch, int length,
                     std::mt19937_64 &rng, Results &results) {
  const int rows = batch * length, half = rows / 2;
  const std::string at = " split (B=" + std::to_string(batch) +
                         " T=" + std::to_string(length) + ")";
  ref::Buffer logits;
  Tensor tLogits = routerLogits(rng, batch, length, logits);
  ref::Mask padding;
  Tensor tMask = randomMask(rng, {batch, length}, 0.25, padding);
  ref::LayerOptions options;
  options.k = kK;
  const ref::Routing routing = ref::route(logits, rows, kE, options, &padding);
  Tensor tIdx = intTensor({batch, length, kK}, routing.indices);
  const ref::Buffer whole =
      routingStatistics(logits, routing.indices, padding, 0, rows);
  Tensor tWhole(DType::F32, {2, kE});
  for (int i = 0; i < 2 * kE; ++i)
    tWhole.set(i, whole[i]);
  const double dLoss = 0.75;
  Tensor tdLoss = scalar(dLoss);
  const ref::Buffer lossGrad =
      scaled(ref::loadBalancingLossBackward(logits, routing.indices, rows, kE,
                                            kK, &padding),
             dLoss);
  const double loss =
      ref::loadBalancingLoss(logits, routing.indices, rows, kE, kK, &padding);
  runAndCompare(module, results, "routing_statistics" + at, "stats",
                {&tLogits, &tIdx, &tMask}, {{"routing statistics", whole}});
  for (int h = 0; h < 2; ++h) {
    const int first = h * half, last = first + half;
    Tensor l = rowsOf(tLogits, first, last, length, kE);
    Tensor i = rowsOf(tIdx, first, last, length, kK);
    Tensor m = rowsOf(tMask, first, last, length, 0);
    const std::string part = " half " + std::to_string(h) + at;
    runAndCompare(
        module, results, "routing_statistics" + part, "stats", {&l, &i, &m},
        {{"routing statistics",
          routingStatistics(logits, routing.indices, padding, first, last)}});
    runAndCompare(module, results,
                  "load_balancing_loss given statistics" + part, "lb_given",
                  {&l, &i, &m, &tWhole},
                  {{"load_balancing_loss", ref::Buffer{loss}}});
    runAndCompare(module, results,
                  "load_balancing_loss_grad given statistics" + part,
                  "lb_given_grad", {&l, &i, &m, &tWhole, &tdLoss},
                  {{"load_balancing_loss dlogits",
                    ref::Buffer(lossGrad.begin() + size_t(first) * kE,
                                lossGrad.begin() + size_t(last) * kE)}});
  }
}

void checkPrimitives(const Module &module, int batch, int length,
                     std::mt19937_64 &rng, Results &results) {
  const int rows = batch * length;
  const std::string at =
      " (B=" + std::to_string(batch) + " T=" + std::to_string(length) + ")";
  std::bernoulli_distribution coin(0.3);

  // layer_norm, default and explicit epsilon.
  for (const auto &[entry, eps] :
       {std::pair<std::string, double>{"ln", 1e-5}, {"ln_eps", 0.1}}) {
    ref::Buffer x, g, b, dy, dx, dg, db;
    Tensor tx = randomTensor(rng, DType::F32, {batch, length, kD}, 1.0, x);
    // Rows of very different scales: the normalisation matters.
    for (int r = 0; r < rows; ++r) {
      const double s = r % 3 == 0 ? 0.05 : r % 3 == 1 ? 1.0 : 4.0;
      for (int i = 0; i < kD; ++i) {
        tx.set(size_t(r) * kD + i, x[size_t(r) * kD + i] * s + 0.5 * s);
        x[size_t(r) * kD + i] = tx.at(size_t(r) * kD + i);
      }
    }
    Tensor tg = randomTensor(rng, DType::F32, {kD}, 1.0, g);
    Tensor tb = randomTensor(rng, DType::F32, {kD}, 1.0, b);
    Tensor tdy = randomTensor(rng, DType::F32, {batch, length, kD}, 1.0, dy);
    ref::layerNormBackward(x, g, rows, kD, float(eps), dy, dx, dg, db);
    runAndCompare(module, results, "layer_norm " + entry + at, entry + "_grad",
                  {&tx, &tg, &tb, &tdy},
                  {{"layer_norm dx", dx},
                   {"layer_norm dgamma", dg},
                   {"layer_norm dbeta", db}});
  }

  // embedding: rows > vocab, so ids repeat and their gradients accumulate.
  {
    std::uniform_int_distribution<int> pick(0, kVocab - 1);
    std::vector<int> ids(rows);
    for (int &v : ids)
      v = pick(rng);
    ids[0] = 0;
    ids[rows - 1] = kVocab - 1; // both ends of the table
    ref::Buffer table, dOut;
    Tensor tIds = intTensor({batch, length}, ids);
    Tensor tTable = randomTensor(rng, DType::F32, {kVocab, kD}, 1.0, table);
    Tensor tdOut =
        randomTensor(rng, DType::F32, {batch, length, kD}, 1.0, dOut);
    runAndCompare(
        module, results, "embedding" + at, "embed_grad",
        {&tIds, &tTable, &tdOut},
        {{"embedding dtable", ref::embeddingBackward(ids, dOut, kVocab, kD)}});
  }

  // cross_entropy with ignored targets, then with every target ignored.
  {
    ref::Buffer logits;
    Tensor tLogits =
        randomTensor(rng, DType::F32, {batch, length, kVocab}, 3.0, logits);
    const double dLoss = 0.75;
    Tensor tdLoss = scalar(dLoss);
    std::vector<int> targets = randomTargets(rng, rows, kVocab);
    targets[0] = -1;
    targets[rows - 1] = kVocab - 1;
    Tensor tTargets = intTensor({batch, length}, targets);
    runAndCompare(
        module, results, "cross_entropy (ignored targets)" + at, "ce_grad",
        {&tLogits, &tTargets, &tdLoss},
        {{"cross_entropy dlogits",
          scaled(ref::crossEntropyBackward(logits, targets, rows, kVocab),
                 dLoss)}});
    std::vector<int> none(rows, -1);
    Tensor tNone = intTensor({batch, length}, none);
    runAndCompare(module, results, "cross_entropy (every target ignored)" + at,
                  "ce_grad", {&tLogits, &tNone, &tdLoss},
                  {{"cross_entropy dlogits", ref::Buffer(logits.size(), 0.0)}});
  }

  // Router losses and route on logits with a stable top-k choice; indices
  // from the reference routing.
  ref::Buffer logits;
  Tensor tLogits = routerLogits(rng, batch, length, logits);
  ref::Mask padding;
  Tensor tMask = randomMask(rng, {batch, length}, 0.25, padding);
  padding[0] = 1; // at least one padded and one non-padded token
  tMask.set(0, 1);
  padding[rows - 1] = 0;
  tMask.set(rows - 1, 0);
  ref::LayerOptions options;
  options.k = kK;
  const ref::Routing masked = ref::route(logits, rows, kE, options, &padding);
  const ref::Routing unmasked = ref::route(logits, rows, kE, options, nullptr);
  Tensor tMaskedIdx = intTensor({batch, length, kK}, masked.indices);
  Tensor tIdx = intTensor({batch, length, kK}, unmasked.indices);
  const double dLoss = -1.25;
  Tensor tdLoss = scalar(dLoss);

  const ref::Buffer lbMasked = ref::loadBalancingLossBackward(
      logits, masked.indices, rows, kE, kK, &padding);
  const ref::Buffer zMasked =
      ref::routerZLossBackward(logits, rows, kE, &padding);
  runAndCompare(module, results, "load_balancing_loss (query padding)" + at,
                "lb_grad", {&tLogits, &tMaskedIdx, &tMask, &tdLoss},
                {{"load_balancing_loss dlogits", scaled(lbMasked, dLoss)}});
  runAndCompare(module, results, "load_balancing_loss" + at, "lb_unmasked_grad",
                {&tLogits, &tIdx, &tdLoss},
                {{"load_balancing_loss dlogits",
                  scaled(ref::loadBalancingLossBackward(
                             logits, unmasked.indices, rows, kE, kK, nullptr),
                         dLoss)}});
  runAndCompare(module, results, "router_z_loss (query padding)" + at, "z_grad",
                {&tLogits, &tMask, &tdLoss},
                {{"router_z_loss dlogits", scaled(zMasked, dLoss)}});
  runAndCompare(
      module, results, "router_z_loss" + at, "z_unmasked_grad",
      {&tLogits, &tdLoss},
      {{"router_z_loss dlogits",
        scaled(ref::routerZLossBackward(logits, rows, kE, nullptr), dLoss)}});
  {
    ref::Buffer sum(lbMasked.size());
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] = dLoss * (lbMasked[i] + 0.01 * zMasked[i]);
    runAndCompare(module, results,
                  "load_balancing_loss + 0.01 router_z_loss (query padding)" +
                      at,
                  "aux_grad", {&tLogits, &tMaskedIdx, &tMask, &tdLoss},
                  {{"aux loss dlogits", sum}});
  }
  {
    // Every token padded: the losses are constant 0, so are the gradients.
    ref::Mask all(rows, 1);
    Tensor tAll(DType::I1, {batch, length});
    for (int r = 0; r < rows; ++r)
      tAll.set(r, 1);
    std::vector<int> noIdx(size_t(rows) * kK, -1);
    Tensor tNoIdx = intTensor({batch, length, kK}, noIdx);
    runAndCompare(module, results,
                  "load_balancing_loss + 0.01 router_z_loss (every token "
                  "padded)" +
                      at,
                  "aux_grad", {&tLogits, &tNoIdx, &tAll, &tdLoss},
                  {{"aux loss dlogits", ref::Buffer(logits.size(), 0.0)}});
  }

  // moa.route: gradient of the gates.
  for (const auto &[entry, topkSoftmax, renormalize, usePadding] :
       {std::tuple<std::string, bool, bool, bool>{"route", false, false, true},
        {"route_topk_softmax", true, true, true},
        {"route_renormalize", false, true, false}}) {
    ref::LayerOptions o;
    o.k = kK;
    o.topkSoftmax = topkSoftmax;
    o.renormalize = renormalize;
    const ref::Routing routing =
        ref::route(logits, rows, kE, o, usePadding ? &padding : nullptr);
    ref::Buffer dGates;
    Tensor tdGates =
        randomTensor(rng, DType::F32, {batch, length, kK}, 1.0, dGates);
    std::vector<const Tensor *> args = {&tLogits};
    if (usePadding)
      args.push_back(&tMask);
    args.push_back(&tdGates);
    runAndCompare(module, results, "route " + entry + at, entry + "_grad", args,
                  {{"route dlogits",
                    ref::routeBackward(logits, routing, dGates, rows, kE, o)}});
  }

  // embedding -> layer_norm -> cross_entropy.
  {
    std::uniform_int_distribution<int> pick(0, kVocab - 1);
    std::vector<int> ids(rows);
    for (int &v : ids)
      v = pick(rng);
    std::vector<int> targets = randomTargets(rng, rows, kD);
    ref::Buffer table, g, b;
    Tensor tIds = intTensor({batch, length}, ids);
    Tensor tTable = randomTensor(rng, DType::F32, {kVocab, kD}, 1.0, table);
    Tensor tg = randomTensor(rng, DType::F32, {kD}, 2.0, g);
    Tensor tb = randomTensor(rng, DType::F32, {kD}, 1.0, b);
    Tensor tTargets = intTensor({batch, length}, targets);
    const double dChain = 2.0;
    Tensor tdChain = scalar(dChain);
    const ref::Buffer x = ref::embedding(ids, table, kVocab, kD);
    const ref::Buffer n = ref::layerNorm(x, g, b, rows, kD, double(1e-5f));
    const ref::Buffer dn =
        scaled(ref::crossEntropyBackward(n, targets, rows, kD), dChain);
    ref::Buffer dx, dg, db;
    ref::layerNormBackward(x, g, rows, kD, double(1e-5f), dn, dx, dg, db);
    runAndCompare(
        module, results, "embedding -> layer_norm -> cross_entropy" + at,
        "chain_grad", {&tIds, &tTable, &tg, &tb, &tTargets, &tdChain},
        {{"chain dtable", ref::embeddingBackward(ids, dx, kVocab, kD)},
         {"chain dgamma", dg},
         {"chain dbeta", db}});
  }
}

/// importance_cv_loss(route(logits)) (the @cv functions of the primitives
/// module): the compiled forward value against reference::route and
/// reference::importanceCVLoss, and the compiled @cv*_grad against
/// reference::importanceCVLossBackward then reference::routeBackward (1e-4),
/// on logits with a stable top-k choice. With query padding (indices -1 and
/// gates 0 for the padded tokens), every token padded (loss and gradient
/// exactly 0), renormalised gates, and one expert (loss and gradient exactly
/// 0).
void checkImportanceCV(const Module &module, int batch, int length,
                       std::mt19937_64 &rng, Results &results) {
  const int rows = batch * length, pairs = rows * kK;
  const std::string at =
      " (B=" + std::to_string(batch) + " T=" + std::to_string(length) + ")";
  ref::Buffer logits;
  Tensor tLogits = routerLogits(rng, batch, length, logits);
  ref::Mask padding;
  Tensor tMask = randomMask(rng, {batch, length}, 0.25, padding);
  padding[0] = 1; // at least one padded and one non-padded token
  tMask.set(0, 1);
  padding[rows - 1] = 0;
  tMask.set(rows - 1, 0);
  const double dLoss = 0.8;
  Tensor tdLoss = scalar(dLoss);

  auto check = [&](const std::string &what, const std::string &entry,
                   const ref::LayerOptions &o, const ref::Mask *mask,
                   const Tensor *tMaskArg) {
    const ref::Routing routing = ref::route(logits, rows, kE, o, mask);
    const double loss =
        ref::importanceCVLoss(routing.gates, routing.indices, pairs, kE);
    const ref::Buffer dGates =
        scaled(ref::importanceCVLossBackward(routing.gates, routing.indices,
                                             pairs, kE),
               dLoss);
    std::vector<const Tensor *> args = {&tLogits};
    if (tMaskArg)
      args.push_back(tMaskArg);
    runAndCompare(module, results, what + " forward" + at, entry, args,
                  {{"importance_cv_loss", {loss}}});
    args.push_back(&tdLoss);
    runAndCompare(module, results, what + at, entry + "_grad", args,
                  {{"importance_cv_loss dlogits",
                    ref::routeBackward(logits, routing, dGates, rows, kE, o)}});
  };
  ref::LayerOptions options;
  options.k = kK;
  check("importance_cv_loss(route) (query padding)", "cv", options, &padding,
        &tMask);
  {
    // Every token padded: no importance at all, so 0 / (0 + 1e-10) = 0.
    ref::Mask all(rows, 1);
    Tensor tAll(DType::I1, {batch, length});
    for (int r = 0; r < rows; ++r)
      tAll.set(r, 1);
    check("importance_cv_loss(route) (every token padded)", "cv", options, &all,
          &tAll);
  }
  ref::LayerOptions renormalize = options;
  renormalize.renormalize = true;
  check("importance_cv_loss(route renormalize)", "cv_renormalize", renormalize,
        nullptr, nullptr);

  // One expert: the loss is the constant 0, so is its gradient.
  {
    ref::Buffer one;
    Tensor tOne = randomTensor(rng, DType::F32, {batch, length, 1}, 2.0, one);
    runAndCompare(module, results,
                  "importance_cv_loss(route) (one expert) forward" + at,
                  "cv_one_expert", {&tOne}, {{"importance_cv_loss", {0.0}}});
    runAndCompare(module, results,
                  "importance_cv_loss(route) (one expert)" + at,
                  "cv_one_expert_grad", {&tOne, &tdLoss},
                  {{"importance_cv_loss dlogits", ref::Buffer(rows, 0.0)}});
  }
}

/// mutual_information_loss(logits) (the @mi functions of the primitives
/// module): the compiled forward value against
/// reference::mutualInformationLoss and the compiled @mi*_grad against
/// reference::mutualInformationLossBackward (1e-4), on logits in [-3, 3].
/// With query padding, without, every token padded (loss and gradient
/// exactly 0), and one expert (p(e|t) = 1: loss and gradient exactly 0).
void checkMutualInformation(const Module &module, int batch, int length,
                            std::mt19937_64 &rng, Results &results) {
  const int rows = batch * length;
  const std::string at =
      " (B=" + std::to_string(batch) + " T=" + std::to_string(length) + ")";
  ref::Buffer logits;
  Tensor tLogits =
      randomTensor(rng, DType::F32, {batch, length, kE}, 3.0, logits);
  ref::Mask padding;
  Tensor tMask = randomMask(rng, {batch, length}, 0.25, padding);
  padding[0] = 1; // at least one padded and one non-padded token
  tMask.set(0, 1);
  padding[rows - 1] = 0;
  tMask.set(rows - 1, 0);
  const double dLoss = -0.6;
  Tensor tdLoss = scalar(dLoss);

  auto check = [&](const std::string &what, const std::string &entry,
                   const ref::Mask *mask, const Tensor *tMaskArg) {
    std::vector<const Tensor *> args = {&tLogits};
    if (tMaskArg)
      args.push_back(tMaskArg);
    runAndCompare(module, results, what + " forward" + at, entry, args,
                  {{"mutual_information_loss",
                    {ref::mutualInformationLoss(logits, rows, kE, mask)}}});
    args.push_back(&tdLoss);
    runAndCompare(
        module, results, what + at, entry + "_grad", args,
        {{"mutual_information_loss dlogits",
          scaled(ref::mutualInformationLossBackward(logits, rows, kE, mask),
                 dLoss)}});
  };
  check("mutual_information_loss (query padding)", "mi", &padding, &tMask);
  check("mutual_information_loss", "mi_unmasked", nullptr, nullptr);
  {
    // Every token padded: the loss is 0 (no token to average over), so is
    // its gradient.
    ref::Mask all(rows, 1);
    Tensor tAll(DType::I1, {batch, length});
    for (int r = 0; r < rows; ++r)
      tAll.set(r, 1);
    check("mutual_information_loss (every token padded)", "mi", &all, &tAll);
  }

  // One expert: p(e|t) = p(e) = 1, the loss is the constant 0, so is its
  // gradient.
  {
    ref::Buffer one;
    Tensor tOne = randomTensor(rng, DType::F32, {batch, length, 1}, 2.0, one);
    runAndCompare(
        module, results, "mutual_information_loss (one expert) forward" + at,
        "mi_one_expert", {&tOne}, {{"mutual_information_loss", {0.0}}});
    runAndCompare(
        module, results, "mutual_information_loss (one expert)" + at,
        "mi_one_expert_grad", {&tOne, &tdLoss},
        {{"mutual_information_loss dlogits", ref::Buffer(rows, 0.0)}});
  }
}

/// Check 4: an index outside its table fails the run with a message that
/// says which kind of index it is.
void checkErrorPaths(const Module &module, Results &results) {
  const int batch = 2, length = 5, rows = batch * length;
  std::mt19937_64 rng(77);
  ref::Buffer table, dOut, logits;
  Tensor tTable = randomTensor(rng, DType::F32, {kVocab, kD}, 1.0, table);
  Tensor tdOut = randomTensor(rng, DType::F32, {batch, length, kD}, 1.0, dOut);
  Tensor tLogits =
      randomTensor(rng, DType::F32, {batch, length, kVocab}, 1.0, logits);
  Tensor tdLoss = scalar(1.0);
  auto expectFailure = [&](const std::string &what, const std::string &entry,
                           const std::vector<const Tensor *> &args,
                           const std::string &message) {
    std::vector<Tensor> out;
    std::string error;
    std::vector<std::string> errors;
    if (module.run(entry, args, out, error))
      errors.push_back(entry + " succeeded");
    else if (error.find(message) == std::string::npos)
      errors.push_back(entry + " failed with another message: " + error);
    results.report(what, errors, errors.empty() ? ": \"" + error + "\"" : "");
  };
  for (int bad : {kVocab, -1, kVocab + 1000}) {
    std::vector<int> ids(rows, 3);
    ids[rows - 2] = bad;
    Tensor tIds = intTensor({batch, length}, ids);
    const std::string outside = "embedding index (a token or a position id)";
    expectFailure("embedding id " + std::to_string(bad) + " rejected", "embed",
                  {&tIds, &tTable}, outside);
    expectFailure("embedding id " + std::to_string(bad) +
                      " rejected by the gradient",
                  "embed_grad", {&tIds, &tTable, &tdOut}, outside);
  }
  for (int bad : {kVocab, -2}) {
    std::vector<int> targets(rows, 1);
    targets[rows - 1] = bad;
    Tensor tTargets = intTensor({batch, length}, targets);
    const std::string outside =
        "cross-entropy target is outside the vocabulary";
    expectFailure("cross_entropy target " + std::to_string(bad) + " rejected",
                  "ce", {&tLogits, &tTargets}, outside);
    expectFailure("cross_entropy target " + std::to_string(bad) +
                      " rejected by the gradient",
                  "ce_grad", {&tLogits, &tTargets, &tdLoss}, outside);
  }
  // The module still works after a rejected call.
  std::vector<int> targets(rows, 1);
  Tensor tTargets = intTensor({batch, length}, targets);
  std::vector<Tensor> out;
  std::string error;
  std::vector<std::string> errors;
  if (!module.run("ce", std::vector<const Tensor *>{&tLogits, &tTargets}, out,
                  error))
    errors.push_back(error);
  else
    compare(results, "cross_entropy (after a rejected call)", out[0],
            {ref::crossEntropy(logits, targets, rows, kVocab)}, errors, 1e-5);
  results.report("cross_entropy runs after a rejected call", errors, "");
}

//===----------------------------------------------------------------------===//
// 5 and 6: the example model, in f32 and in mixed precision
//===----------------------------------------------------------------------===//

/// Checks 5 and 6: examples/tiny_lm.mlir compiled with
/// moa-generate-gradients{functions=loss} (with `mixed`, also
/// mixed-precision=bf16 and the reference rounds where it does); @loss against
/// reference::tinyLMForward (loss, ce, lb, z, logits, and the experts every
/// moa.route of the compiled forward counted) and @loss_grad (seeds 1 for loss,
/// 0 for ce, lb, z and logits) against reference::tinyLMBackward, parameter by
/// parameter (f32 compiled code against the f64 reference, `tolerance`
/// relative: 1e-4, or kMixedTolerance/kMixedSmallTolerance in mixed
/// precision).
///
/// Inputs: embeddings uniform in [-1, 1], layer-norm gains 1 + [-0.5, 0.5]
/// and shifts [-0.5, 0.5], w_gate [-1, 1] (router logits spread over a few
/// units), the other projections [-a, a] with a = sqrt(3 / fan_in) (unit
/// variance out); tokens and targets uniform over the vocabulary, about a
/// quarter of the targets ignored (-1), positions t + 7 b (mod 64). A token
/// whose router logits have their 2nd and 3rd largest closer than kMinGap is
/// given another token id (its router logits depend on its own x0 row only),
/// so that the compiled code and the reference route alike. The smallest
/// |ReLU input| of the reference is printed: an input within f32 noise
/// (~1e-6) of 0 could switch a unit between the two.
void checkTinyLM(const Module &module, int batch, int length,
                 const ref::Rounding &rounding, double tolerance,
                 std::mt19937_64 &rng, Results &results) {
  ref::TinyLMConfig config;
  config.rounding = rounding;
  const bool mixed = rounding.bf16;
  // The module's f32 constants, exactly.
  config.epsilon = double(1e-5f);
  config.lbWeight = double(0.01f);
  config.zWeight = double(0.001f);
  const int rows = batch * length, d = config.d, E = config.experts;
  char what[96];
  std::snprintf(what, sizeof(what), "tiny_lm%s (B=%d T=%d)",
                mixed ? " bf16" : "", batch, length);

  ref::TinyLMParameters params;
  std::vector<Tensor> paramTensors;
  {
    const auto shapes = ref::TinyLMParameters::shapes(config);
    const auto tensors = params.list();
    for (int i = 0; i < ref::TinyLMParameters::kCount; ++i) {
      const std::vector<int64_t> shape(shapes[i].begin(), shapes[i].end());
      const std::string name = ref::TinyLMParameters::names()[i];
      const bool gain = name.size() > 2 && name.substr(name.size() - 2) == "_g";
      const bool shift =
          name.size() > 2 && name.substr(name.size() - 2) == "_b";
      double amplitude = 1.0; // embeddings and w_gate
      if (gain || shift)
        amplitude = 0.5;
      else if (name != "tok_emb" && name != "pos_emb" && name != "w_gate")
        amplitude = std::sqrt(3.0 / double(shape[shape.size() - 2]));
      Tensor t = randomTensor(rng, DType::F32, shape, amplitude, *tensors[i]);
      if (gain)
        for (int64_t e = 0; e < t.numElements(); ++e) {
          t.set(e, 1.0 + t.at(e));
          (*tensors[i])[e] = t.at(e);
        }
      paramTensors.push_back(std::move(t));
    }
  }

  ref::TinyLMData data;
  data.batch = batch;
  data.length = length;
  std::uniform_int_distribution<int> pickToken(0, config.vocab - 1);
  for (int r = 0; r < rows; ++r)
    data.tokens.push_back(pickToken(rng));
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < length; ++t)
      data.positions.push_back((t + 7 * b) % config.maxPositions);
  data.targets = randomTargets(rng, rows, config.vocab);

  // A stable top-2 choice for every token.
  int redrawn = 0;
  for (int r = 0; r < rows; ++r)
    for (int attempt = 0;; ++attempt) {
      ref::Buffer x0(d);
      for (int i = 0; i < d; ++i)
        x0[i] = params.tokEmb[size_t(data.tokens[r]) * d + i] +
                params.posEmb[size_t(data.positions[r]) * d + i];
      const ref::Buffer h1 =
          ref::layerNorm(x0, params.ln1G, params.ln1B, 1, d, config.epsilon);
      const ref::Buffer l = ref::matmul(h1, params.wGate, 1, d, E);
      if (selectionGap(l.data(), E, config.k) >= kMinGap)
        break;
      if (attempt == 1000) {
        results.report(what, {"no token id gives a stable routing"}, "");
        return;
      }
      ++redrawn;
      data.tokens[r] = pickToken(rng);
    }

  Tensor tTokens = intTensor({batch, length}, data.tokens);
  Tensor tPositions = intTensor({batch, length}, data.positions);
  Tensor tTargets = intTensor({batch, length}, data.targets);
  std::vector<const Tensor *> args;
  for (const Tensor &t : paramTensors)
    args.push_back(&t);
  args.push_back(&tTokens);
  args.push_back(&tPositions);
  args.push_back(&tTargets);

  // @loss is the f32 model in either case (mixed precision is in
  // @loss_grad only): its reference has no rounding points.
  ref::TinyLMConfig exact = config;
  exact.rounding = ref::Rounding();
  const ref::TinyLMOutputs expected = ref::tinyLMForward(exact, params, data);
  const ref::TinyLMParameters grads =
      ref::tinyLMBackward(config, params, data, nullptr);
  double margin = INFINITY;
  for (double v : expected.ffnPre)
    margin = std::min(margin, std::fabs(v));

  std::vector<std::string> errors;
  std::string detail = ":";

  // The forward pass.
  std::vector<Tensor> out;
  std::string error;
  RunStats stats;
  if (!module.run("loss", args, out, error, &stats)) {
    results.report(std::string(what) + " forward", {"loss: " + error}, "");
  } else if (out.size() != 5) {
    results.report(
        std::string(what) + " forward",
        {"loss: " + std::to_string(out.size()) + " results, expected 5"}, "");
  } else {
    const std::vector<std::pair<std::string, ref::Buffer>> values = {
        {"loss", {expected.loss}},
        {"ce", {expected.ce}},
        {"lb", {expected.lb}},
        {"z", {expected.z}},
        {"logits", expected.logits}};
    std::vector<std::string> forwardErrors;
    std::string forwardDetail = ":";
    for (size_t i = 0; i < values.size(); ++i) {
      const double r = compare(results, "tiny_lm " + values[i].first, out[i],
                               values[i].second, forwardErrors);
      forwardDetail += " " + values[i].first + " " + format("%.1e", r);
    }
    // Every moa.route the compiled forward ran chose what the reference
    // chose.
    std::vector<int64_t> counts(E, 0);
    for (int e : expected.routing.indices)
      ++counts[e];
    if (stats.expertCounts.empty())
      forwardErrors.push_back("no moa.route reported its expert counts");
    for (const std::vector<int64_t> &c : stats.expertCounts)
      if (c != counts)
        forwardErrors.push_back("a moa.route chose other experts than the "
                                "reference");
    forwardDetail += " (" + std::to_string(stats.expertCounts.size()) +
                     " routes agree; loss " + format("%.6f", expected.loss) +
                     ")";
    results.report(std::string(what) + " forward", forwardErrors,
                   forwardDetail);
  }

  // The gradient of the loss.
  Tensor one = scalar(1.0), zero = scalar(0.0);
  Tensor dLogits(DType::F32, {batch, length, config.vocab});
  for (int64_t i = 0; i < dLogits.numElements(); ++i)
    dLogits.set(i, 0.0);
  std::vector<const Tensor *> gradArgs = args;
  for (const Tensor *seed : {&one, &zero, &zero, &zero, &dLogits})
    gradArgs.push_back(seed);
  out.clear();
  if (!module.run("loss_grad", gradArgs, out, error)) {
    results.report(std::string(what) + " gradients", {"loss_grad: " + error},
                   "");
    return;
  }
  if (out.size() != size_t(ref::TinyLMParameters::kCount)) {
    results.report(std::string(what) + " gradients",
                   {"loss_grad: " + std::to_string(out.size()) +
                    " results, expected " +
                    std::to_string(ref::TinyLMParameters::kCount)},
                   "");
    return;
  }
  const auto expectedGrads = grads.list();
  for (int i = 0; i < ref::TinyLMParameters::kCount; ++i) {
    const std::string name = ref::TinyLMParameters::names()[i];
    const double r = compare(
        results, std::string(mixed ? "tiny_lm bf16 d" : "tiny_lm d") + name,
        out[i], *expectedGrads[i], errors, tolerance);
    detail += " " + name + " " + format("%.1e", r);
  }
  if (mixed) {
    // How far the same gradients are from the unrounded model: what the
    // rounding points account for.
    const ref::TinyLMParameters exactGrads =
        ref::tinyLMBackward(exact, params, data, nullptr);
    const auto unrounded = exactGrads.list();
    double farthest = 0;
    std::vector<std::string> ignored;
    Results scratch;
    for (int i = 0; i < ref::TinyLMParameters::kCount; ++i)
      farthest = std::max(farthest, compare(scratch, "", out[i], *unrounded[i],
                                            ignored, INFINITY));
    detail += " (unrounded reference: up to " + format("%.1e", farthest) + ")";
    // Else these inputs could not tell rounding points from none.
    if (!(farthest > 2 * tolerance))
      errors.push_back("the unrounded reference is as close as the rounded "
                       "one");
  }
  detail += " (" + std::to_string(redrawn) +
            " token redraws, min |ReLU input| (f32 forward) " +
            format("%.1e", margin) + ")";
  results.report(std::string(what) + " gradients", errors, detail);
}

} // namespace

int main(int argc, char **argv) {
  // Positional arguments, and --tiny-lm=PATH anywhere.
  // --compile-flags=FLAGS: moa-compile's target options for every module
  // (e.g. "--target=cuda --emulate-gpu": the GPU kernels against the same
  // references).
  std::vector<std::string> positional;
  std::string tinyLMPath, compileFlags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--tiny-lm=", 0) == 0)
      tinyLMPath = arg.substr(std::strlen("--tiny-lm="));
    else if (arg.rfind("--compile-flags=", 0) == 0)
      compileFlags = arg.substr(std::strlen("--compile-flags="));
    else
      positional.push_back(arg);
  }
  if (positional.size() < 2 || positional.size() > 3) {
    std::fprintf(stderr,
                 "usage: %s MOA_COMPILE WORKDIR [FILTER] "
                 "[--tiny-lm=PATH/examples/tiny_lm.mlir] "
                 "[--compile-flags=FLAGS]\n",
                 argv[0]);
    return 2;
  }
  const std::string compiler = positional[0], workdir = positional[1];
  const std::string filter = positional.size() > 2 ? positional[2] : "";
  Results results;

  // The selected configurations are functions @l<i> of two modules (each
  // function costs ~1.7 s of compile time, batched or not, so the two
  // halves and the primitives module compile concurrently).
  // (Function names and seeds follow the index in configs(), so that a
  // filtered run reproduces the same case.)
  std::vector<std::pair<size_t, Config>> selected;
  const std::vector<Config> all = configs();
  for (size_t i = 0; i < all.size(); ++i)
    if (filter.empty() || all[i].name.find(filter) != std::string::npos)
      selected.push_back({i, all[i]});
  const bool primitives = filter.empty() || filter == "primitives";
  struct Job {
    std::string base, text, error;
    std::unique_ptr<Module> module;
  };
  std::vector<Job> jobs(6);
  jobs[0].base = workdir + "/layers0";
  jobs[1].base = workdir + "/layers1";
  jobs[2].base = workdir + "/primitives";
  jobs[3].base = workdir + "/tiny_lm";
  jobs[4].base = workdir + "/statistics";
  jobs[5].base = workdir + "/tiny_lm_bf16";
  for (size_t i = 0; i < selected.size(); ++i)
    jobs[i % 2].text += layerFunction(selected[i].second,
                                      "l" + std::to_string(selected[i].first));
  if (primitives) {
    jobs[2].text = primitivesModule();
    jobs[4].text = statisticsModule();
  }
  // The example model, read from the source tree (compiled as a copy).
  const bool tinyLM = filter.empty() || filter == "tiny_lm";
  if (tinyLM && !tinyLMPath.empty()) {
    std::ifstream file(tinyLMPath);
    std::ostringstream text;
    text << file.rdbuf();
    jobs[3].text = jobs[5].text = text.str();
    if (!file || jobs[3].text.empty())
      results.report("read " + tinyLMPath, {"cannot read the file"}, "");
  } else if (tinyLM) {
    std::printf("tiny_lm not checked (no --tiny-lm=PATH)\n");
  }
  {
    std::vector<std::thread> threads;
    for (size_t j = 0; j < jobs.size(); ++j)
      if (!jobs[j].text.empty())
        threads.emplace_back([&compiler, &compileFlags, &job = jobs[j], j] {
          job.module = compileModule(
              compiler, job.base, job.text, job.error,
              compileFlags + " " +
                  (j == 3 ? "'--pre-pipeline=moa-generate-gradients{functions="
                            "loss}'"
                   : j == 5
                       ? "'--pre-pipeline=moa-generate-gradients{functions="
                         "loss mixed-precision=bf16}'"
                   : j == 4 ? ""
                            : "--pre-pipeline=moa-generate-gradients"));
        });
    for (std::thread &t : threads)
      t.join();
  }
  for (const Job &job : jobs)
    if (!job.text.empty() && !job.module)
      results.report("compile " + job.base + ".mlir", {job.error}, "");

  // 1 and 3.
  for (size_t i = 0; i < selected.size(); ++i) {
    const Module *module = jobs[i % 2].module.get();
    if (!module)
      continue;
    const auto &[index, c] = selected[i];
    const std::string fn = "l" + std::to_string(index);
    std::mt19937_64 rng(1000 + 17 * index);
    const Shape shapes[] = {kSmall, c.large};
    for (int s = 0; s < 2; ++s) {
      const Shape &shape = shapes[s];
      std::unique_ptr<LayerCase> lc = makeCase(c, shape, rng);
      checkLayerGradients(*module, c, fn, shape, *lc, results);
      // Finite differences at the small shape of every configuration and
      // at the large one of those that span several key blocks.
      if (s == 0 || lc->in.keyLength > 256)
        checkFiniteDifference(*module, c, fn, shape, *lc, 5000 + index,
                              results);
    }
  }

  // 2 and 4.
  if (const Module *module = jobs[2].module.get()) {
    std::mt19937_64 rng(31);
    checkPrimitives(*module, 2, 7, rng, results);
    checkPrimitives(*module, 3, 33, rng, results);
    // Its own generator, so that the inputs of the checks above stay as
    // they were.
    std::mt19937_64 cvRng(43);
    checkImportanceCV(*module, 2, 7, cvRng, results);
    checkImportanceCV(*module, 3, 33, cvRng, results);
    std::mt19937_64 miRng(47);
    checkMutualInformation(*module, 2, 7, miRng, results);
    checkMutualInformation(*module, 3, 33, miRng, results);
    checkErrorPaths(*module, results);
  }
  if (const Module *module = jobs[4].module.get()) {
    std::mt19937_64 rng(53);
    checkSplitBatch(*module, 2, 7, rng, results);
    checkSplitBatch(*module, 4, 33, rng, results);
  }

  // 5.
  if (const Module *module = jobs[3].module.get()) {
    std::mt19937_64 rng(57);
    checkTinyLM(*module, 2, 7, ref::Rounding(), kTolerance, rng, results);
    checkTinyLM(*module, 4, 64, ref::Rounding(), kTolerance, rng, results);
  }
  // 6. On the GPU the attention runs on the tensor cores, which round its
  // probabilities too (the shapes' keys fit in one key tile of 64).
  if (const Module *module = jobs[5].module.get()) {
    std::mt19937_64 rng(59);
    ref::Rounding mixed;
    mixed.bf16 = true;
    mixed.probabilities =
        compileFlags.find("--target=cuda") != std::string::npos;
    checkTinyLM(*module, 2, 7, mixed, kMixedSmallTolerance, rng, results);
    checkTinyLM(*module, 4, 64, mixed, kMixedTolerance, rng, results);
  }

  std::printf("worst relative errors:");
  for (const auto &[name, worst] : results.worst)
    std::printf(" [%s %.2e]", name.c_str(), worst);
  std::printf("\n%d finite-difference directions skipped (routing "
              "changed)\n",
              results.fdSkipped);
  std::printf("%d checks, %d failed\n", results.checks, results.failed);
  return results.failed ? 1 : 0;
}
