//===- ReferenceGradTest.cpp - Finite differences of the backward ---------===//
//
// Checks every function of MoAReferenceGrad.h against the forward reference
// (MoAReference.h and the forward ops of MoAReferenceGrad.h) by central
// finite differences in double precision. For a function y = f(theta) and a
// random upstream gradient dy the scalar objective J = sum(dy * y) (plus
// sum(dLogits * logits) for the layer; the loss itself for scalar losses) is
// differentiated coordinate by coordinate:
//   dJ/dtheta_i ~ (J(theta_i + h) - J(theta_i - h)) / 2h,  h = 1e-6,
// and compared with the analytic gradient, tensor by tensor, as
//   max |analytic - fd| / max(max |fd|, max |analytic|).
// The last check is the whole example model (TinyLMReference.h): the loss of
// examples/tiny_lm.mlir against all 16 parameters, at h = 1e-5 (see
// checkTinyLM).
//
// Tolerance 1e-6, why it is honest: the truncation error of the central
// difference is ~h^2 |J'''| / 6 ~ 1e-13 for O(1) inputs, the rounding error
// ~eps |J| / h ~ 1e-16 * 10 / 1e-6 = 1e-9, so a correct backward measures
// ~1e-10..1e-8 (printed per check), while a missing or wrong term of an O(1)
// gradient shows at >= 1e-3. A tensor whose true gradient is (almost) zero
// would turn the ~1e-10 rounding noise into a large relative error, so a
// tensor below 1e-3 of the largest tensor of its check is measured against
// that largest tensor's scale instead; tensors that must be zero by
// definition are required to be exactly zero.
//
// Inputs come from a fixed-seed std::mt19937_64, uniform in +-[0.25, 1]
// (never zero, never tiny). No gradient flows through the top-k indices, so
// router weights are redrawn until the logits of every token are at least
// 1e-2 apart, far more than a step of 1e-6 can move them; any coordinate
// whose perturbation still changes the routing is skipped and counted (and
// the check fails if more than 5% of its coordinates are skipped).
//
// usage: moa-reference-grad-test   (prints one line per check, then
// "N checks, M failed"; exits non-zero on any failure)
//
//===----------------------------------------------------------------------===//

#include "MoAReference.h"
#include "MoAReferenceGrad.h"
#include "TinyLMReference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace moa::reference;

namespace {

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;
// Below this fraction of the largest tensor of a check, a tensor's error is
// measured against the largest tensor's scale (see the file comment).
constexpr double kSmallTensor = 1e-3;
constexpr double kMaxSkippedFraction = 0.05;

std::mt19937_64 rng(0x6d6f612d67726164ULL); // "moa-grad"

/// Uniform in +-[0.25, 1]: never zero, so no input or upstream gradient
/// silently switches a path off.
Buffer randomBuffer(size_t n) {
  std::uniform_real_distribution<double> magnitude(0.25, 1.0);
  std::bernoulli_distribution sign(0.5);
  Buffer b(n);
  for (double &v : b)
    v = sign(rng) ? magnitude(rng) : -magnitude(rng);
  return b;
}

double dot(const Buffer &a, const Buffer &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

double maxAbs(const Buffer &b) {
  double m = 0;
  for (double v : b)
    m = std::max(m, std::abs(v));
  return m;
}

bool allFinite(const Buffer &b) {
  for (double v : b)
    if (!std::isfinite(v))
      return false;
  return true;
}

/// True when consecutive sorted values of every row differ by at least gap,
/// so that a small perturbation cannot reorder them.
bool wellSeparated(const Buffer &logits, int rows, int cols, double gap) {
  for (int r = 0; r < rows; ++r) {
    std::vector<double> row(logits.begin() + size_t(r) * cols,
                            logits.begin() + size_t(r + 1) * cols);
    std::sort(row.begin(), row.end());
    for (int c = 1; c < cols; ++c)
      if (row[c] - row[c - 1] < gap)
        return false;
  }
  return true;
}

/// One differentiated tensor: the value perturbed in place and the analytic
/// gradient; expectZero: the gradient must be exactly zero by definition.
struct Param {
  std::string name;
  Buffer *value;
  Buffer grad;
  bool expectZero = false;
};

/// The objective at the current parameter values; nullopt when the
/// perturbation changed a discrete choice (the routing).
using Objective = std::function<std::optional<double>()>;

int checks = 0, failed = 0;

void report(const std::string &name, bool ok, const std::string &detail) {
  ++checks;
  if (!ok)
    ++failed;
  std::printf("%s%s: %s\n", ok ? "" : "FAIL ", name.c_str(), detail.c_str());
}

/// The finite-difference check of one function; prints one line.
void checkGradient(const std::string &name, std::vector<Param> params,
                   const Objective &objective, double step = kStep) {
  std::string problems;
  int coordinates = 0, skipped = 0;
  std::vector<Buffer> fd;
  std::vector<std::vector<bool>> skip;
  for (Param &p : params) {
    Buffer numeric(p.value->size(), 0.0);
    std::vector<bool> skippedHere(p.value->size(), false);
    if (p.grad.size() != p.value->size())
      problems += " " + p.name + " has the wrong size;";
    for (size_t i = 0; i < p.value->size(); ++i) {
      ++coordinates;
      const double saved = (*p.value)[i];
      (*p.value)[i] = saved + step;
      std::optional<double> plus = objective();
      (*p.value)[i] = saved - step;
      std::optional<double> minus = objective();
      (*p.value)[i] = saved;
      if (!plus || !minus) {
        ++skipped;
        skippedHere[i] = true;
        continue;
      }
      numeric[i] = (*plus - *minus) / (2 * step);
    }
    fd.push_back(std::move(numeric));
    skip.push_back(std::move(skippedHere));
  }
  if (!problems.empty()) {
    report(name, false, problems);
    return;
  }

  // Scales over the coordinates that were not skipped.
  std::vector<double> scale(params.size()), error(params.size());
  double largest = 0, norm2 = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    double s = 0, e = 0;
    for (size_t i = 0; i < fd[t].size(); ++i) {
      const double a = params[t].grad[i];
      norm2 += a * a;
      if (skip[t][i])
        continue;
      s = std::max({s, std::abs(a), std::abs(fd[t][i])});
      // NaN-propagating: a NaN gradient must fail, not compare false.
      const double diff = std::abs(a - fd[t][i]);
      e = std::isnan(diff) ? diff : std::max(e, diff);
    }
    scale[t] = s;
    error[t] = e;
    largest = std::max(largest, s);
  }
  double worst = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    const Param &p = params[t];
    if (!allFinite(p.grad))
      problems += " " + p.name + " not finite;";
    if (p.expectZero) {
      if (maxAbs(p.grad) != 0)
        problems += " " + p.name + " should be exactly zero;";
    } else if (maxAbs(p.grad) == 0) {
      problems += " " + p.name + " is zero;";
    }
    const double denominator =
        scale[t] >= kSmallTensor * largest ? scale[t] : largest;
    const double rel = denominator > 0 ? error[t] / denominator : error[t];
    if (std::isnan(rel) || std::isnan(worst))
      worst = std::numeric_limits<double>::quiet_NaN();
    else
      worst = std::max(worst, rel);
  }
  const double norm = std::sqrt(norm2);
  // A check only means something if the gradient is not trivially zero
  // (unless every tensor of it is zero by definition, checked above).
  const bool allZero = std::all_of(params.begin(), params.end(),
                                   [](const Param &p) { return p.expectZero; });
  if (!allZero && !(norm > 1e-3))
    problems += " gradient norm too small;";
  if (skipped > kMaxSkippedFraction * coordinates)
    problems += " too many coordinates skipped;";
  if (!(worst <= kTolerance))
    problems += " error above tolerance;";

  char detail[256];
  std::snprintf(detail, sizeof(detail),
                "max rel error %.1e (|grad| %.3g, %d coordinates, %d skipped)",
                worst, norm, coordinates, skipped);
  report(name, problems.empty(),
         detail + std::string(allZero ? " zero by definition" : "") + problems);
}

//===----------------------------------------------------------------------===//
// The layer
//===----------------------------------------------------------------------===//

enum class KeyPadding {
  None,
  Some,       // a few keys per batch
  FirstKey,   // key 0 of batch 0: with causal, query 0 sees nothing
  WholeBatch, // every key of batch 0: all its query rows see nothing
};

struct LayerCase {
  std::string name;
  int experts = 4, k = 2;
  int batch = 2, queryLength = 4, keyLength = 4, d = 5, h = 3;
  bool cross = false, causal = false, topkSoftmax = false, renormalize = false,
       queryPadding = false, dLogits = true;
  KeyPadding keyPadding = KeyPadding::None;
  std::optional<double> scale;
};

void checkLayer(const LayerCase &c) {
  const int B = c.batch, T = c.queryLength, d = c.d, E = c.experts, h = c.h;
  const int S = c.cross ? c.keyLength : T;
  LayerOptions options;
  options.k = c.k;
  options.topkSoftmax = c.topkSoftmax;
  options.renormalize = c.renormalize;
  options.causal = c.causal;
  options.scale = c.scale;

  LayerInputs in;
  in.batch = B;
  in.queryLength = T;
  in.keyLength = S;
  in.d = d;
  in.experts = E;
  in.h = h;
  in.x = randomBuffer(size_t(B) * T * d);
  Buffer memory;
  if (c.cross) {
    memory = randomBuffer(size_t(B) * S * d);
    in.memory = &memory;
  }
  // Redraw the router until the logits are well separated (see the top).
  for (int attempt = 0;; ++attempt) {
    in.wGate = randomBuffer(size_t(d) * E);
    if (wellSeparated(matmul(in.x, in.wGate, B * T, d, E), B * T, E, 1e-2))
      break;
    if (attempt == 1000) {
      report("layer " + c.name, false, "no well-separated router drawn");
      return;
    }
  }
  in.wQuery = randomBuffer(size_t(E) * d * h);
  in.wKey = randomBuffer(size_t(d) * h);
  in.wValue = randomBuffer(size_t(d) * h);
  in.wOut = randomBuffer(size_t(E) * h * d);

  Mask keyPadding(size_t(B) * S, 0), queryPadding(size_t(B) * T, 0);
  switch (c.keyPadding) {
  case KeyPadding::None:
    break;
  case KeyPadding::Some:
    keyPadding[1] = 1;
    keyPadding[size_t(B) * S - 1] = 1;
    break;
  case KeyPadding::FirstKey:
    keyPadding[0] = 1;
    keyPadding[size_t(B) * S - 2] = 1;
    break;
  case KeyPadding::WholeBatch:
    for (int s = 0; s < S; ++s)
      keyPadding[s] = 1;
    break;
  }
  if (c.keyPadding != KeyPadding::None)
    in.keyPadding = &keyPadding;
  if (c.queryPadding) {
    queryPadding[T - 1] = 1;             // last token of batch 0
    queryPadding[size_t(B) * T - 3] = 1; // an inner token of the last batch
    in.queryPadding = &queryPadding;
  }

  const Buffer dy = randomBuffer(size_t(B) * T * d);
  const Buffer dLogits = randomBuffer(size_t(B) * T * E);
  const Buffer *dLogitsPtr = c.dLogits ? &dLogits : nullptr;
  const LayerOutputs base = mixtureAttention(in, options);
  LayerGradients g = mixtureAttentionBackward(in, options, dy, dLogitsPtr);

  // Without dLogits, with one expert, or one slot renormalised or
  // softmaxed over itself, the gate is the constant 1: nothing reaches
  // w_gate.
  const bool gateIsConstant =
      !c.dLogits && (E == 1 || (c.k == 1 && (c.topkSoftmax || c.renormalize)));
  std::vector<Param> params = {{"dx", &in.x, g.dx},
                               {"dWGate", &in.wGate, g.dWGate, gateIsConstant},
                               {"dWQuery", &in.wQuery, g.dWQuery},
                               {"dWKey", &in.wKey, g.dWKey},
                               {"dWValue", &in.wValue, g.dWValue},
                               {"dWOut", &in.wOut, g.dWOut}};
  if (c.cross)
    params.push_back({"dMemory", &memory, g.dMemory});
  else if (!g.dMemory.empty())
    report("layer " + c.name + " dMemory", false,
           "dMemory must be empty for self-attention");

  checkGradient("layer " + c.name, params, [&]() -> std::optional<double> {
    LayerOutputs out = mixtureAttention(in, options);
    if (out.routing.indices != base.routing.indices)
      return std::nullopt;
    return dot(dy, out.y) + (c.dLogits ? dot(dLogits, out.logits) : 0.0);
  });

  // Exact zeros the contract promises: in cross-attention without dLogits a
  // padded query token reaches nothing, so its dx row is zero.
  if (c.cross && c.queryPadding && !c.dLogits) {
    bool zero = true;
    for (int t = 0; t < B * T; ++t)
      if (queryPadding[t])
        for (int i = 0; i < d; ++i)
          zero = zero && g.dx[size_t(t) * d + i] == 0;
    report("layer " + c.name + " padded dx rows", zero,
           zero ? "exactly zero" : "not zero");
  }
}

std::vector<LayerCase> layerCases() {
  std::vector<LayerCase> cases;
  auto add = [&](const std::string &name, int experts, int k) -> LayerCase & {
    LayerCase c;
    c.name = name;
    c.experts = experts;
    c.k = k;
    cases.push_back(c);
    return cases.back();
  };
  add("E1 k1", 1, 1);
  add("E1 k1 no-dlogits", 1, 1).dLogits = false;
  add("E4 k1", 4, 1);
  add("E4 k1 no-dlogits", 4, 1).dLogits = false;
  {
    LayerCase &c = add("E4 k1 renormalize no-dlogits", 4, 1);
    c.renormalize = true;
    c.dLogits = false;
  }
  add("E4 k2", 4, 2);
  add("E4 k2 no-dlogits", 4, 2).dLogits = false;
  add("E4 k4", 4, 4);
  add("E4 k4 no-dlogits", 4, 4).dLogits = false;
  add("E4 k2 topk_softmax", 4, 2).topkSoftmax = true;
  {
    LayerCase &c = add("E4 k2 topk_softmax no-dlogits", 4, 2);
    c.topkSoftmax = true;
    c.dLogits = false;
  }
  {
    LayerCase &c = add("E4 k2 renormalize no-dlogits", 4, 2);
    c.renormalize = true;
    c.dLogits = false;
  }
  add("E4 k4 renormalize", 4, 4).renormalize = true;
  {
    LayerCase &c = add("E4 k2 topk_softmax renormalize", 4, 2);
    c.topkSoftmax = c.renormalize = true;
  }
  add("E4 k2 causal", 4, 2).causal = true;
  add("E4 k2 key-padding", 4, 2).keyPadding = KeyPadding::Some;
  {
    LayerCase &c = add("E4 k2 causal key-padding fully-masked-row", 4, 2);
    c.causal = true;
    c.keyPadding = KeyPadding::FirstKey;
  }
  {
    LayerCase &c = add("E4 k2 key-padding fully-masked-batch no-dlogits", 4, 2);
    c.keyPadding = KeyPadding::WholeBatch;
    c.dLogits = false;
  }
  add("E4 k2 query-padding", 4, 2).queryPadding = true;
  {
    LayerCase &c = add("E4 k2 causal query-padding renormalize", 4, 2);
    c.causal = c.queryPadding = c.renormalize = true;
  }
  {
    LayerCase &c = add("E4 k2 cross T3 S5", 4, 2);
    c.cross = true;
    c.queryLength = 3;
    c.keyLength = 5;
  }
  {
    LayerCase &c = add("E4 k2 cross T3 S5 key-padding query-padding "
                       "topk_softmax no-dlogits",
                       4, 2);
    c.cross = c.queryPadding = c.topkSoftmax = true;
    c.queryLength = 3;
    c.keyLength = 5;
    c.keyPadding = KeyPadding::Some;
    c.dLogits = false;
  }
  {
    LayerCase &c = add("E1 k1 cross T5 S2 no-dlogits", 1, 1);
    c.cross = true;
    c.queryLength = 5;
    c.keyLength = 2;
    c.dLogits = false;
  }
  add("E4 k2 scale 0.37", 4, 2).scale = 0.37;
  {
    LayerCase &c = add("E4 k4 cross causal scale 1.3 renormalize", 4, 4);
    c.cross = c.causal = c.renormalize = true;
    c.queryLength = 4;
    c.keyLength = 3;
    c.scale = 1.3;
  }
  return cases;
}

//===----------------------------------------------------------------------===//
// The pieces
//===----------------------------------------------------------------------===//

/// Router logits [tokens, E] whose values in a row are a shuffled ladder
/// with gaps >= 0.3, plus noise: no perturbation can flip the top-k.
Buffer separatedLogits(int tokens, int experts) {
  Buffer logits(size_t(tokens) * experts);
  std::uniform_real_distribution<double> noise(-0.1, 0.1);
  std::vector<int> order(experts);
  for (int t = 0; t < tokens; ++t) {
    for (int e = 0; e < experts; ++e)
      order[e] = e;
    std::shuffle(order.begin(), order.end(), rng);
    for (int e = 0; e < experts; ++e)
      logits[size_t(t) * experts + e] = 0.5 * order[e] - 0.7 + noise(rng);
  }
  return logits;
}

void checkRoute(int experts, int k, bool topkSoftmax, bool renormalize,
                bool padded) {
  const int tokens = 6;
  LayerOptions options;
  options.k = k;
  options.topkSoftmax = topkSoftmax;
  options.renormalize = renormalize;
  Mask padding(tokens, 0);
  padding[2] = 1;
  const Mask *pad = padded ? &padding : nullptr;
  Buffer logits = separatedLogits(tokens, experts);
  const Buffer dGates = randomBuffer(size_t(tokens) * k);
  const Routing base = route(logits, tokens, experts, options, pad);
  Buffer grad = routeBackward(logits, base, dGates, tokens, experts, options);
  std::string name =
      "route E" + std::to_string(experts) + " k" + std::to_string(k) +
      (topkSoftmax ? " topk_softmax" : " softmax_topk") +
      (renormalize ? " renormalize" : "") + (padded ? " query-padding" : "");
  // One slot renormalised, or softmaxed over itself, is the constant 1.
  const bool constant = k == 1 && (topkSoftmax || renormalize);
  checkGradient(name, {{"dLogits", &logits, grad, constant}},
                [&]() -> std::optional<double> {
                  Routing r = route(logits, tokens, experts, options, pad);
                  if (r.indices != base.indices)
                    return std::nullopt;
                  return dot(dGates, r.gates);
                });
  if (padded) {
    bool zero = true;
    for (int e = 0; e < experts; ++e)
      zero = zero && grad[size_t(2) * experts + e] == 0;
    report(name + " padded row", zero, zero ? "exactly zero" : "not zero");
  }
}

void checkAttention(const std::string &name, int B, int T, int S, int k, int h,
                    bool causal, KeyPadding padding,
                    std::optional<double> customScale) {
  const double scale = customScale ? *customScale : 1.0 / std::sqrt(h);
  Buffer query = randomBuffer(size_t(B) * T * k * h);
  Buffer key = randomBuffer(size_t(B) * S * h);
  Buffer value = randomBuffer(size_t(B) * S * h);
  Mask mask(size_t(B) * S, 0);
  if (padding == KeyPadding::Some) {
    mask[1] = 1;
    mask[size_t(B) * S - 1] = 1;
  } else if (padding == KeyPadding::FirstKey) {
    mask[0] = 1;
  } else if (padding == KeyPadding::WholeBatch) {
    for (int s = 0; s < S; ++s)
      mask[s] = 1;
  }
  const Mask *maskPtr = padding == KeyPadding::None ? nullptr : &mask;
  const Buffer dOut = randomBuffer(size_t(B) * T * k * h);
  Buffer dQuery, dKey, dValue;
  multiQueryAttentionBackward(query, key, value, B, T, S, k, h, causal, maskPtr,
                              scale, dOut, dQuery, dKey, dValue);
  checkGradient("multi_query_attention " + name,
                {{"dQuery", &query, dQuery},
                 {"dKey", &key, dKey},
                 {"dValue", &value, dValue}},
                [&]() -> std::optional<double> {
                  return dot(dOut,
                             multiQueryAttention(query, key, value, B, T, S, k,
                                                 h, causal, maskPtr, scale));
                });
  // Rows without a visible key: zero output and exactly zero dQuery.
  if (padding == KeyPadding::FirstKey || padding == KeyPadding::WholeBatch) {
    bool zero = true;
    const Buffer out = multiQueryAttention(query, key, value, B, T, S, k, h,
                                           causal, maskPtr, scale);
    for (int t = 0; t < T; ++t) {
      bool visible = false;
      for (int s = 0; s < S; ++s)
        visible = visible || (!(causal && s > t) && !mask[s]);
      if (visible)
        continue;
      for (size_t i = size_t(t) * k * h; i < size_t(t + 1) * k * h; ++i)
        zero = zero && dQuery[i] == 0 && out[i] == 0;
    }
    report("multi_query_attention " + name + " fully masked rows", zero,
           zero ? "exactly zero" : "not zero");
  }
}

void checkLoadBalancing(int k, bool padded) {
  const int tokens = 8, experts = 4;
  Mask padding(tokens, 0);
  padding[3] = padding[6] = 1;
  const Mask *pad = padded ? &padding : nullptr;
  Buffer logits = separatedLogits(tokens, experts);
  LayerOptions options;
  options.k = k;
  // The counts come from the routing and are constants of the loss.
  const std::vector<int> indices =
      route(logits, tokens, experts, options, pad).indices;
  checkGradient(
      "load_balancing_loss E4 k" + std::to_string(k) +
          (padded ? " query-padding" : ""),
      {{"dLogits", &logits,
        loadBalancingLossBackward(logits, indices, tokens, experts, k, pad)}},
      [&]() -> std::optional<double> {
        return loadBalancingLoss(logits, indices, tokens, experts, k, pad);
      });
}

void checkZLoss(bool padded) {
  const int tokens = 7, experts = 5;
  Mask padding(tokens, 0);
  padding[0] = padding[4] = 1;
  const Mask *pad = padded ? &padding : nullptr;
  Buffer logits = randomBuffer(size_t(tokens) * experts);
  for (double &v : logits)
    v *= 3; // a logsumexp well away from 0, where the loss is flat
  checkGradient(
      std::string("router_z_loss E5") + (padded ? " query-padding" : ""),
      {{"dLogits", &logits, routerZLossBackward(logits, tokens, experts, pad)}},
      [&]() -> std::optional<double> {
        return routerZLoss(logits, tokens, experts, pad);
      });
}

/// importance_cv_loss on the gates and indices route() gives for
/// well-separated logits (padded tokens: indices -1, gates 0), against the
/// gates; with throughRoute, the composition route -> importance_cv_loss
/// against the logits (importanceCVLossBackward, then routeBackward).
void checkImportanceCV(int experts, int k, bool padded, bool throughRoute,
                       bool topkSoftmax = false, bool renormalize = false) {
  const int tokens = 8, pairs = tokens * k;
  Mask padding(tokens, 0);
  padding[1] = padding[6] = 1;
  const Mask *pad = padded ? &padding : nullptr;
  Buffer logits = separatedLogits(tokens, experts);
  LayerOptions options;
  options.k = k;
  options.topkSoftmax = topkSoftmax;
  options.renormalize = renormalize;
  const Routing base = route(logits, tokens, experts, options, pad);
  Buffer gates = base.gates;
  const Buffer dGates =
      importanceCVLossBackward(gates, base.indices, pairs, experts);
  std::string name =
      "importance_cv_loss E" + std::to_string(experts) + " k" +
      std::to_string(k) + (padded ? " query-padding" : "") +
      (throughRoute ? std::string(" through route") +
                          (topkSoftmax ? " topk_softmax" : " softmax_topk") +
                          (renormalize ? " renormalize" : "")
                    : "");
  // With one expert the loss is the constant 0.
  const bool constant = experts == 1;
  if (throughRoute)
    checkGradient(
        name,
        {{"dLogits", &logits,
          routeBackward(logits, base, dGates, tokens, experts, options),
          constant}},
        [&]() -> std::optional<double> {
          Routing r = route(logits, tokens, experts, options, pad);
          if (r.indices != base.indices)
            return std::nullopt;
          return importanceCVLoss(r.gates, r.indices, pairs, experts);
        });
  else
    checkGradient(name, {{"dGates", &gates, dGates, constant}},
                  [&]() -> std::optional<double> {
                    return importanceCVLoss(gates, base.indices, pairs,
                                            experts);
                  });
  if (padded) {
    bool zero = true;
    for (int p = 0; p < pairs; ++p)
      if (base.indices[p] == -1)
        zero = zero && dGates[p] == 0;
    report(name + " pairs with index -1", zero,
           zero ? "exactly zero" : "not zero");
  }
  if (constant) {
    const double loss =
        importanceCVLoss(base.gates, base.indices, pairs, experts);
    report(name + " loss", loss == 0, loss == 0 ? "exactly zero" : "not zero");
  }
}

/// mutual_information_loss against the logits: no padding, some tokens
/// padded (their rows exactly zero), every token padded (loss and gradient
/// exactly zero), and one expert (p(e|t) = 1: loss and gradient exactly
/// zero).
enum class MIPadding { None, Some, All };

void checkMutualInformation(int experts, MIPadding padding) {
  const int tokens = 7;
  Mask mask(tokens, 0);
  if (padding == MIPadding::Some)
    mask[0] = mask[4] = 1;
  if (padding == MIPadding::All)
    mask.assign(tokens, 1);
  const Mask *pad = padding == MIPadding::None ? nullptr : &mask;
  Buffer logits = randomBuffer(size_t(tokens) * experts);
  for (double &v : logits)
    v *= 2; // sharper, unequal token distributions
  const Buffer dLogits =
      mutualInformationLossBackward(logits, tokens, experts, pad);
  const std::string name = "mutual_information_loss E" +
                           std::to_string(experts) +
                           (padding == MIPadding::Some  ? " query-padding"
                            : padding == MIPadding::All ? " every token padded"
                                                        : "");
  // Every token padded or one expert: the loss is the constant 0.
  const bool constant = padding == MIPadding::All || experts == 1;
  checkGradient(name, {{"dLogits", &logits, dLogits, constant}},
                [&]() -> std::optional<double> {
                  return mutualInformationLoss(logits, tokens, experts, pad);
                });
  if (padding == MIPadding::Some) {
    bool zero = true;
    for (int t = 0; t < tokens; ++t)
      for (int e = 0; e < experts; ++e)
        if (mask[t])
          zero = zero && dLogits[size_t(t) * experts + e] == 0;
    report(name + " padded tokens", zero, zero ? "exactly zero" : "not zero");
  }
  if (constant) {
    const double loss = mutualInformationLoss(logits, tokens, experts, pad);
    report(name + " loss", loss == 0, loss == 0 ? "exactly zero" : "not zero");
  }
}

void checkLayerNorm(double eps) {
  const int rows = 5, d = 7;
  Buffer x = randomBuffer(size_t(rows) * d);
  Buffer gamma = randomBuffer(d), beta = randomBuffer(d);
  const Buffer dy = randomBuffer(size_t(rows) * d);
  Buffer dx, dGamma, dBeta;
  layerNormBackward(x, gamma, rows, d, eps, dy, dx, dGamma, dBeta);
  char name[64];
  std::snprintf(name, sizeof(name), "layer_norm eps %g", eps);
  checkGradient(
      name,
      {{"dx", &x, dx}, {"dGamma", &gamma, dGamma}, {"dBeta", &beta, dBeta}},
      [&]() -> std::optional<double> {
        return dot(dy, layerNorm(x, gamma, beta, rows, d, eps));
      });
}

void checkEmbedding() {
  const int vocab = 6, d = 4;
  const std::vector<int> ids = {3, 1, 3, 0, 5, 3}; // repeats, unused 2 and 4
  Buffer table = randomBuffer(size_t(vocab) * d);
  const Buffer dOut = randomBuffer(ids.size() * d);
  const Buffer dTable = embeddingBackward(ids, dOut, vocab, d);
  checkGradient("embedding V6", {{"dTable", &table, dTable}},
                [&]() -> std::optional<double> {
                  return dot(dOut, embedding(ids, table, vocab, d));
                });
  bool zero = true;
  for (int v : {2, 4})
    for (int i = 0; i < d; ++i)
      zero = zero && dTable[size_t(v) * d + i] == 0;
  report("embedding V6 unused rows", zero, zero ? "exactly zero" : "not zero");
}

void checkCrossEntropy() {
  const int rows = 6, vocab = 5;
  const std::vector<int> targets = {2, -1, 0, 4, -1, 1};
  Buffer logits = randomBuffer(size_t(rows) * vocab);
  for (double &v : logits)
    v *= 2;
  const Buffer grad = crossEntropyBackward(logits, targets, rows, vocab);
  checkGradient("cross_entropy V5 ignore -1", {{"dLogits", &logits, grad}},
                [&]() -> std::optional<double> {
                  return crossEntropy(logits, targets, rows, vocab);
                });
  bool zero = true;
  for (int r : {1, 4})
    for (int v = 0; v < vocab; ++v)
      zero = zero && grad[size_t(r) * vocab + v] == 0;
  report("cross_entropy V5 ignored rows", zero,
         zero ? "exactly zero" : "not zero");

  // No counted row: the loss is 0 and so is its gradient.
  const std::vector<int> none(rows, -1);
  const bool empty =
      crossEntropy(logits, none, rows, vocab) == 0 &&
      maxAbs(crossEntropyBackward(logits, none, rows, vocab)) == 0;
  report("cross_entropy V5 all ignored", empty,
         empty ? "loss and gradient exactly zero" : "not zero");
}

//===----------------------------------------------------------------------===//
// The whole example model (examples/tiny_lm.mlir)
//===----------------------------------------------------------------------===//

/// tinyLMBackward against central differences of tinyLMForward's loss, every
/// coordinate of all 16 parameters, at the model's own sizes (d 32, vocab
/// 64, E 4, k 2, h 16, FFN 64) on B = 2, T = 5: repeated tokens and
/// positions (their rows accumulate), two ignored targets. Matrices are
/// scaled by fan_in^-0.5 so that every activation stays O(1). The router is
/// redrawn until its logits are 1e-2 apart; a perturbation that changes the
/// routing or the sign of any ReLU input is skipped (kinks, like the top-k,
/// are not differentiable).
///
/// Step 1e-5 rather than 1e-6: the objective is the loss itself (~4, the
/// result of ~1e5 operations), so its rounding noise is a few ulp, ~2e-15,
/// and the gradients are small (a mean over 8 targets; the largest entry of
/// w_query's is ~4e-3). Measured on this case, the worst absolute error of a
/// tensor is 1e-8, 1e-9 and 1e-10 at steps 1e-7, 1e-6 and 1e-5: rounding
/// (~1/h) throughout, so the truncation error is below 1e-10 at 1e-5, where
/// the worst relative error is ~3e-8 against the 1e-6 tolerance.
constexpr double kModelStep = 1e-5;

void checkTinyLM() {
  const TinyLMConfig config;
  TinyLMData data;
  data.batch = 2;
  data.length = 5;
  const int N = data.batch * data.length;
  std::uniform_int_distribution<int> pickToken(0, config.vocab - 1);
  for (int r = 0; r < N; ++r)
    data.tokens.push_back(pickToken(rng));
  data.tokens[7] = data.tokens[0]; // a repeated token
  data.tokens[8] = data.tokens[2];
  for (int b = 0; b < data.batch; ++b)
    for (int t = 0; t < data.length; ++t)
      data.positions.push_back(3 * b + t);         // positions 3 and 4 repeat
  data.positions.back() = config.maxPositions - 1; // the table's last row
  for (int r = 0; r < N; ++r)
    data.targets.push_back(pickToken(rng));
  data.targets[1] = data.targets[N - 1] = -1;

  TinyLMParameters params;
  const auto shapes = TinyLMParameters::shapes(config);
  const auto tensors = params.list();
  for (int i = 0; i < TinyLMParameters::kCount; ++i) {
    size_t n = 1;
    for (int extent : shapes[i])
      n *= size_t(extent);
    *tensors[i] = randomBuffer(n);
    // Projections [.., K, N]: scale by K^-0.5 (the embeddings, gammas and
    // betas are O(1) as drawn).
    const bool projection = i != 0 && i != 1 && shapes[i].size() >= 2;
    if (projection)
      for (double &v : *tensors[i])
        v /= std::sqrt(double(shapes[i][shapes[i].size() - 2]));
  }
  for (int attempt = 0;; ++attempt) {
    const TinyLMOutputs out = tinyLMForward(config, params, data);
    if (wellSeparated(out.routerLogits, N, config.experts, 1e-2))
      break;
    if (attempt == 1000) {
      report("tiny_lm", false, "no well-separated router drawn");
      return;
    }
    params.wGate = randomBuffer(size_t(config.d) * config.experts);
    for (double &v : params.wGate)
      v /= std::sqrt(double(config.d));
  }

  TinyLMOutputs base;
  const TinyLMParameters grad = tinyLMBackward(config, params, data, &base);
  const auto grads = grad.list();
  std::vector<Param> checked;
  for (int i = 0; i < TinyLMParameters::kCount; ++i)
    checked.push_back({TinyLMParameters::names()[i], tensors[i], *grads[i]});
  auto signs = [](const Buffer &u) {
    std::vector<bool> s(u.size());
    for (size_t i = 0; i < u.size(); ++i)
      s[i] = u[i] > 0;
    return s;
  };
  const std::vector<bool> baseSigns = signs(base.ffnPre);
  double margin = INFINITY;
  for (double v : base.ffnPre)
    margin = std::min(margin, std::abs(v));
  char name[96];
  std::snprintf(name, sizeof(name),
                "tiny_lm loss (B2 T5, min |ReLU input| %.1e)", margin);
  checkGradient(
      name, checked,
      [&]() -> std::optional<double> {
        const TinyLMOutputs out = tinyLMForward(config, params, data);
        if (out.routing.indices != base.routing.indices ||
            signs(out.ffnPre) != baseSigns)
          return std::nullopt;
        return out.loss;
      },
      kModelStep);

  // Embedding rows no token or position uses get exactly zero.
  bool zero = true;
  for (int v = 0; v < config.vocab; ++v)
    if (std::find(data.tokens.begin(), data.tokens.end(), v) ==
        data.tokens.end())
      for (int i = 0; i < config.d; ++i)
        zero = zero && grad.tokEmb[size_t(v) * config.d + i] == 0;
  for (int v = 0; v < config.maxPositions; ++v)
    if (std::find(data.positions.begin(), data.positions.end(), v) ==
        data.positions.end())
      for (int i = 0; i < config.d; ++i)
        zero = zero && grad.posEmb[size_t(v) * config.d + i] == 0;
  report("tiny_lm unused embedding rows", zero,
         zero ? "exactly zero" : "not zero");
}

} // namespace

int main() {
  for (const LayerCase &c : layerCases())
    checkLayer(c);

  for (int k : {1, 2, 4})
    for (bool topkSoftmax : {false, true})
      for (bool renormalize : {false, true})
        checkRoute(4, k, topkSoftmax, renormalize, /*padded=*/k == 2);

  checkAttention("T4 S4 k2", 2, 4, 4, 2, 3, false, KeyPadding::None,
                 std::nullopt);
  checkAttention("causal T4 S4 k2", 2, 4, 4, 2, 3, true, KeyPadding::None,
                 std::nullopt);
  checkAttention("key-padding T3 S5 k3 scale 0.6", 2, 3, 5, 3, 4, false,
                 KeyPadding::Some, 0.6);
  checkAttention("causal key-padding fully-masked-row T4 S4 k2", 2, 4, 4, 2, 3,
                 true, KeyPadding::FirstKey, std::nullopt);
  checkAttention("key-padding fully-masked-batch T3 S4 k1", 2, 3, 4, 1, 3,
                 false, KeyPadding::WholeBatch, std::nullopt);

  for (int k : {1, 2})
    for (bool padded : {false, true})
      checkLoadBalancing(k, padded);
  checkZLoss(false);
  checkZLoss(true);
  checkLayerNorm(1e-5);
  checkLayerNorm(0.5);
  checkEmbedding();
  checkCrossEntropy();
  checkTinyLM();
  // After the model, so that the inputs drawn before stay as they were.
  {
    // By hand: importance (1 + 0.5, 2, 0) (the -1 pair adds nothing), mean
    // 7/6, unbiased variance 13/12: L = (13/12) / (49/36 + 1e-10), 39/49
    // but for the epsilon (7e-11 relative).
    const double loss =
        importanceCVLoss({1.0, 2.0, 4.0, 0.5}, {0, 1, -1, 0}, 4, 3);
    const double expected = (13.0 / 12.0) / (49.0 / 36.0 + 1e-10);
    const bool ok = std::abs(loss - expected) <= 1e-14 * expected;
    char detail[96];
    std::snprintf(detail, sizeof(detail), "%.17g (by hand %.17g)", loss,
                  expected);
    report("importance_cv_loss E3 by hand", ok, detail);
  }
  checkImportanceCV(4, 2, /*padded=*/true, /*throughRoute=*/false);
  checkImportanceCV(4, 1, /*padded=*/false, /*throughRoute=*/false);
  checkImportanceCV(1, 1, /*padded=*/true, /*throughRoute=*/false);
  checkImportanceCV(8, 2, /*padded=*/true, /*throughRoute=*/true);
  checkImportanceCV(4, 2, /*padded=*/false, /*throughRoute=*/true,
                    /*topkSoftmax=*/true, /*renormalize=*/true);
  checkImportanceCV(1, 1, /*padded=*/false, /*throughRoute=*/true);
  {
    // By hand: p(.|t0) = (1/4, 3/4), p(.|t1) = (3/4, 1/4), token 2 padded:
    // H(E|T) = log 4 - (3/4) log 3, p(e) = (1/2, 1/2), H(E) = log 2, so
    // L = log 2 - (3/4) log 3.
    const Mask padding = {0, 0, 1};
    const double loss = mutualInformationLoss(
        {0.0, std::log(3.0), std::log(3.0), 0.0, 5.0, -5.0}, 3, 2, &padding);
    const double expected = std::log(2.0) - 0.75 * std::log(3.0);
    const bool ok = std::abs(loss - expected) <= 1e-14 * std::abs(expected);
    char detail[96];
    std::snprintf(detail, sizeof(detail), "%.17g (by hand %.17g)", loss,
                  expected);
    report("mutual_information_loss E2 by hand", ok, detail);
  }
  checkMutualInformation(5, MIPadding::None);
  checkMutualInformation(5, MIPadding::Some);
  checkMutualInformation(5, MIPadding::All);
  checkMutualInformation(1, MIPadding::Some);

  std::printf("%d checks, %d failed\n", checks, failed);
  return failed ? 1 : 0;
}
