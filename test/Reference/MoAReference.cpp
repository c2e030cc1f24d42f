//===- MoAReference.cpp - Independent reference of the MoA math -----------===//

#include "MoAReference.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace moa::reference {

double roundToBF16(double v) {
  const float f = float(v);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if (std::isfinite(f)) // nearest, ties to even, on the upper 16 bits
    bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  float rounded;
  std::memcpy(&rounded, &bits, sizeof(bits));
  return rounded;
}

Buffer Rounding::operator()(Buffer values) const {
  if (bf16)
    for (double &v : values)
      v = roundToBF16(v);
  return values;
}

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

double logSumExp(const double *v, int n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i)
    m = std::max(m, v[i]);
  double z = 0;
  for (int i = 0; i < n; ++i)
    z += std::exp(v[i] - m);
  return m + std::log(z);
}

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

Buffer matmul(const Buffer &rows, const Buffer &weight, int n, int kDim,
              int nDim) {
  Buffer out(size_t(n) * nDim, 0.0);
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < nDim; ++j) {
      double s = 0;
      for (int c = 0; c < kDim; ++c)
        s += rows[size_t(r) * kDim + c] * weight[size_t(c) * nDim + j];
      out[size_t(r) * nDim + j] = s;
    }
  return out;
}

Buffer groupedMatmul(const Buffer &input, bool perPairInput,
                     const Buffer &weight, int tokens, int k, int kDim,
                     int nDim, const std::vector<int> &indices,
                     const Buffer *gates) {
  Buffer out(size_t(tokens) * (gates ? 1 : k) * nDim, 0.0);
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < k; ++j) {
      const size_t pair = size_t(t) * k + j;
      const int e = indices[pair];
      if (e < 0)
        continue;
      const double *row = &input[(perPairInput ? pair : size_t(t)) * kDim];
      const double gate = gates ? (*gates)[pair] : 1.0;
      double *dst = &out[(gates ? size_t(t) : pair) * nDim];
      for (int n = 0; n < nDim; ++n) {
        double s = 0;
        for (int c = 0; c < kDim; ++c)
          s += row[c] * weight[(size_t(e) * kDim + c) * nDim + n];
        dst[n] += gate * s;
      }
    }
  return out;
}

Buffer multiQueryAttention(const Buffer &query, const Buffer &key,
                           const Buffer &value, int B, int T, int S, int k,
                           int h, bool causal, const Mask *keyPadding,
                           double scale, const Rounding &rounding) {
  Buffer out(size_t(B) * T * k * h, 0.0);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < k; ++j) {
        const double *q = &query[((size_t(b) * T + t) * k + j) * h];
        std::vector<double> score(S);
        std::vector<bool> visible(S);
        double m = -std::numeric_limits<double>::infinity();
        for (int s = 0; s < S; ++s) {
          visible[s] = !(causal && s > t) &&
                       !(keyPadding && (*keyPadding)[size_t(b) * S + s]);
          if (!visible[s])
            continue;
          double v = 0;
          for (int i = 0; i < h; ++i)
            v += q[i] * key[(size_t(b) * S + s) * h + i];
          score[s] = v * scale;
          m = std::max(m, score[s]);
        }
        double z = 0;
        for (int s = 0; s < S; ++s)
          if (visible[s])
            z += std::exp(score[s] - m);
        double *o = &out[((size_t(b) * T + t) * k + j) * h];
        for (int s = 0; s < S; ++s) {
          if (!visible[s])
            continue;
          const double p = std::exp(score[s] - m);
          const double a =
              (rounding.bf16 && rounding.probabilities ? roundToBF16(p) : p) /
              z;
          for (int i = 0; i < h; ++i)
            o[i] += a * value[(size_t(b) * S + s) * h + i];
        }
      }
  return out;
}

LayerOutputs mixtureAttention(const LayerInputs &in,
                              const LayerOptions &options) {
  const int B = in.batch, T = in.queryLength, d = in.d, E = in.experts,
            h = in.h, k = options.k;
  const Buffer &memory = in.memory ? *in.memory : in.x;
  const int S = in.memory ? in.keyLength : T;
  const Rounding &rounding = options.rounding;
  LayerOutputs out;
  // The router reads x as it is (f32 even in mixed precision).
  out.logits = matmul(in.x, in.wGate, B * T, d, E);
  out.routing = route(out.logits, B * T, E, options, in.queryPadding);
  const Buffer x = rounding(in.x), m = rounding(memory);
  const Buffer query =
      rounding(groupedMatmul(x, /*perPairInput=*/false, rounding(in.wQuery),
                             B * T, k, d, h, out.routing.indices, nullptr));
  const Buffer key = rounding(matmul(m, rounding(in.wKey), B * S, d, h));
  const Buffer value = rounding(matmul(m, rounding(in.wValue), B * S, d, h));
  const Buffer attended = rounding(multiQueryAttention(
      query, key, value, B, T, S, k, h, options.causal, in.keyPadding,
      options.scale ? *options.scale : 1.0 / std::sqrt(h), rounding));
  out.y = rounding(groupedMatmul(attended, /*perPairInput=*/true,
                                 rounding(in.wOut), B * T, k, h, d,
                                 out.routing.indices, &out.routing.gates));
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
    const double lse = logSumExp(&logits[size_t(t) * experts], experts);
    total += lse * lse;
    ++n;
  }
  return n ? total / n : 0.0;
}

} // namespace moa::reference
