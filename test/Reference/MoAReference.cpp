//===- MoAReference.cpp - Independent reference of the MoA math -----------===//

#include "MoAReference.h"

#include <cmath>
#include <limits>

namespace moa::reference {

namespace {
std::vector<double> softmax(const double *v, int n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i)
    m = std::max(m, v[i]);
  std::vector<double> p(n);
  double z = 0;
  for (int i = 0; i < n; ++i)
    z += p[i] = std::exp(v[i] - m);
  for (double &x : p)
    x /= z;
  return p;
}
} // namespace

Routing route(const Buffer &logits, int tokens, int experts,
              const LayerOptions &options, const Mask *queryPadding) {
  const int k = options.k;
  Routing r;
  r.indices.assign(size_t(tokens) * k, -1);
  r.gates.assign(size_t(tokens) * k, 0.0);
  for (int t = 0; t < tokens; ++t) {
    if (queryPadding && (*queryPadding)[t])
      continue;
    const double *l = &logits[size_t(t) * experts];
    std::vector<double> p = softmax(l, experts);
    // Selection sort by probability; the strict '>' keeps the lower index
    // on ties.
    std::vector<bool> chosen(experts, false);
    std::vector<int> top;
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < experts; ++e)
        if (!chosen[e] && (best == -1 || p[e] > p[best]))
          best = e;
      chosen[best] = true;
      top.push_back(best);
    }
    std::vector<double> g(k);
    if (options.topkSoftmax) {
      std::vector<double> selected(k);
      for (int j = 0; j < k; ++j)
        selected[j] = l[top[j]];
      g = softmax(selected.data(), k);
    } else {
      for (int j = 0; j < k; ++j)
        g[j] = p[top[j]];
    }
    if (options.renormalize) {
      double s = 0;
      for (double v : g)
        s += v;
      for (double &v : g)
        v /= s;
    }
    for (int j = 0; j < k; ++j) {
      r.indices[size_t(t) * k + j] = top[j];
      r.gates[size_t(t) * k + j] = g[j];
    }
  }
  return r;
}

void dispatch(const std::vector<int> &indices, int experts,
              std::vector<int> &permutation, std::vector<int> &offsets) {
  permutation.clear();
  offsets.assign(experts + 1, 0);
  for (int e = 0; e < experts; ++e) {
    offsets[e] = int(permutation.size());
    for (size_t p = 0; p < indices.size(); ++p)
      if (indices[p] == e)
        permutation.push_back(int(p));
  }
  offsets[experts] = int(permutation.size());
  for (size_t p = 0; p < indices.size(); ++p)
    if (indices[p] < 0)
      permutation.push_back(int(p));
}

LayerOutputs mixtureAttention(const LayerInputs &in,
                              const LayerOptions &options) {
  const int B = in.batch, T = in.queryLength, d = in.d, E = in.experts,
            h = in.h, k = options.k;
  const Buffer &memory = in.memory ? *in.memory : in.x;
  const int S = in.memory ? in.keyLength : T;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(h);
  LayerOutputs out;

  // Router logits.
  out.logits.assign(size_t(B) * T * E, 0.0);
  for (int t = 0; t < B * T; ++t)
    for (int e = 0; e < E; ++e) {
      double s = 0;
      for (int c = 0; c < d; ++c)
        s += in.x[size_t(t) * d + c] * in.wGate[size_t(c) * E + e];
      out.logits[size_t(t) * E + e] = s;
    }
  out.routing = route(out.logits, B * T, E, options, in.queryPadding);

  // Shared K and V.
  Buffer K(size_t(B) * S * h, 0.0), V(size_t(B) * S * h, 0.0);
  for (int s = 0; s < B * S; ++s)
    for (int j = 0; j < h; ++j) {
      double a = 0, b = 0;
      for (int c = 0; c < d; ++c) {
        a += memory[size_t(s) * d + c] * in.wKey[size_t(c) * h + j];
        b += memory[size_t(s) * d + c] * in.wValue[size_t(c) * h + j];
      }
      K[size_t(s) * h + j] = a;
      V[size_t(s) * h + j] = b;
    }

  out.y.assign(size_t(B) * T * d, 0.0);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const size_t token = size_t(b) * T + t;
      for (int j = 0; j < k; ++j) {
        const int e = out.routing.indices[token * k + j];
        if (e < 0)
          continue;
        const double gate = out.routing.gates[token * k + j];
        std::vector<double> q(h, 0.0);
        for (int i = 0; i < h; ++i)
          for (int c = 0; c < d; ++c)
            q[i] +=
                in.x[token * d + c] * in.wQuery[(size_t(e) * d + c) * h + i];
        // Attention over visible keys; none visible -> zero output.
        std::vector<double> score(S);
        std::vector<bool> visible(S);
        double m = -std::numeric_limits<double>::infinity();
        for (int s = 0; s < S; ++s) {
          visible[s] = !(options.causal && s > t) &&
                       !(in.keyPadding && (*in.keyPadding)[size_t(b) * S + s]);
          if (!visible[s])
            continue;
          double v = 0;
          for (int i = 0; i < h; ++i)
            v += q[i] * K[(size_t(b) * S + s) * h + i];
          score[s] = v * scale;
          m = std::max(m, score[s]);
        }
        std::vector<double> attended(h, 0.0);
        double z = 0;
        for (int s = 0; s < S; ++s)
          if (visible[s])
            z += std::exp(score[s] - m);
        for (int s = 0; s < S; ++s) {
          if (!visible[s])
            continue;
          const double a = std::exp(score[s] - m) / z;
          for (int i = 0; i < h; ++i)
            attended[i] += a * V[(size_t(b) * S + s) * h + i];
        }
        for (int c = 0; c < d; ++c) {
          double o = 0;
          for (int i = 0; i < h; ++i)
            o += attended[i] * in.wOut[(size_t(e) * h + i) * d + c];
          out.y[token * d + c] += gate * o;
        }
      }
    }
  return out;
}

double loadBalancingLoss(const Buffer &logits, const std::vector<int> &indices,
                         int tokens, int experts, int k, const Mask *padding) {
  std::vector<double> P(experts, 0.0), c(experts, 0.0);
  for (int t = 0; t < tokens; ++t) {
    if (padding && (*padding)[t])
      continue;
    std::vector<double> p = softmax(&logits[size_t(t) * experts], experts);
    for (int e = 0; e < experts; ++e)
      P[e] += p[e];
    for (int j = 0; j < k; ++j)
      if (indices[size_t(t) * k + j] >= 0)
        c[indices[size_t(t) * k + j]] += 1;
  }
  double sumP = 0, sumC = 0, loss = 0;
  for (int e = 0; e < experts; ++e) {
    sumP += P[e];
    sumC += c[e];
  }
  if (sumP == 0 || sumC == 0)
    return 0;
  for (int e = 0; e < experts; ++e)
    loss += (P[e] / sumP) * (c[e] / sumC);
  return experts * loss;
}

double routerZLoss(const Buffer &logits, int tokens, int experts,
                   const Mask *padding) {
  double total = 0;
  int n = 0;
  for (int t = 0; t < tokens; ++t) {
    if (padding && (*padding)[t])
      continue;
    const double *l = &logits[size_t(t) * experts];
    double m = -std::numeric_limits<double>::infinity();
    for (int e = 0; e < experts; ++e)
      m = std::max(m, l[e]);
    double z = 0;
    for (int e = 0; e < experts; ++e)
      z += std::exp(l[e] - m);
    const double lse = m + std::log(z);
    total += lse * lse;
    ++n;
  }
  return n ? total / n : 0.0;
}

} // namespace moa::reference
