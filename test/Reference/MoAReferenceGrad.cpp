//===- MoAReferenceGrad.cpp - Independent reference of the MoA backward ---===//

#include "MoAReferenceGrad.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

namespace moa::reference {

Buffer matmulTransposedLeft(const Buffer &a, const Buffer &b, int n, int kDim,
                            int nDim) {
  Buffer out(size_t(kDim) * nDim, 0.0);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < kDim; ++c) {
      const double v = a[size_t(r) * kDim + c];
      for (int j = 0; j < nDim; ++j)
        out[size_t(c) * nDim + j] += v * b[size_t(r) * nDim + j];
    }
  return out;
}

namespace {
/// Backward of p = softmax(v): dv = p * (dp - <p, dp>).
std::vector<double> softmaxBackward(const std::vector<double> &p,
                                    const std::vector<double> &dp) {
  double dot = 0;
  for (size_t i = 0; i < p.size(); ++i)
    dot += p[i] * dp[i];
  std::vector<double> dv(p.size());
  for (size_t i = 0; i < p.size(); ++i)
    dv[i] = p[i] * (dp[i] - dot);
  return dv;
}

/// dOut [n, N] times weight [K, N] transposed: the input gradient of a
/// matmul, accumulated into dIn [n, K].
void accumulateMatmulTransposedRight(const Buffer &dOut, const Buffer &weight,
                                     int n, int kDim, int nDim, Buffer &dIn) {
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < kDim; ++c) {
      double s = 0;
      for (int j = 0; j < nDim; ++j)
        s += dOut[size_t(r) * nDim + j] * weight[size_t(c) * nDim + j];
      dIn[size_t(r) * kDim + c] += s;
    }
}

/// into += rounding(values): a bf16 backward op's gradient (rounded) added to
/// an adjoint (summed in f32).
void addRounded(const Rounding &rounding, const Buffer &values, Buffer &into) {
  const Buffer rounded = rounding(values);
  for (size_t i = 0; i < into.size(); ++i)
    into[i] += rounded[i];
}

[[noreturn]] void fail(const char *what) {
  std::fprintf(stderr, "moa::reference: %s\n", what);
  std::abort();
}
} // namespace

Buffer routeBackward(const Buffer &logits, const Routing &routing,
                     const Buffer &dGates, int tokens, int experts,
                     const LayerOptions &options) {
  const int k = options.k;
  Buffer dLogits(size_t(tokens) * experts, 0.0);
  for (int t = 0; t < tokens; ++t) {
    const int *top = &routing.indices[size_t(t) * k];
    if (top[0] < 0) // padded token: constant zero gates
      continue;
    const double *l = &logits[size_t(t) * experts];
    const double *dg = &dGates[size_t(t) * k];
    // Recompute the gates before renormalisation the way route() does.
    std::vector<double> p = softmax(l, experts), raw(k);
    std::vector<double> selected(k);
    for (int j = 0; j < k; ++j)
      selected[j] = l[top[j]];
    if (options.topkSoftmax)
      raw = softmax(selected.data(), k);
    else
      for (int j = 0; j < k; ++j)
        raw[j] = p[top[j]];
    // Through g = raw / sum(raw): draw_i = (dg_i - <dg, g>) / sum(raw).
    std::vector<double> dRaw(dg, dg + k);
    if (options.renormalize) {
      double sum = 0, dot = 0;
      for (int j = 0; j < k; ++j)
        sum += raw[j];
      for (int j = 0; j < k; ++j)
        dot += dg[j] * raw[j] / sum;
      for (int j = 0; j < k; ++j)
        dRaw[j] = (dg[j] - dot) / sum;
    }
    double *dl = &dLogits[size_t(t) * experts];
    if (options.topkSoftmax) {
      // Only the k selected logits enter the softmax.
      std::vector<double> dSelected = softmaxBackward(raw, dRaw);
      for (int j = 0; j < k; ++j)
        dl[top[j]] += dSelected[j];
    } else {
      // The softmax is over all E: unselected logits still move the gates.
      std::vector<double> dp(experts, 0.0);
      for (int j = 0; j < k; ++j)
        dp[top[j]] += dRaw[j];
      std::vector<double> d = softmaxBackward(p, dp);
      for (int e = 0; e < experts; ++e)
        dl[e] += d[e];
    }
  }
  return dLogits;
}

void multiQueryAttentionBackward(const Buffer &query, const Buffer &key,
                                 const Buffer &value, int B, int T, int S,
                                 int k, int h, bool causal,
                                 const Mask *keyPadding, double scale,
                                 const Buffer &dOut, Buffer &dQuery,
                                 Buffer &dKey, Buffer &dValue,
                                 const Buffer *out) {
  dQuery.assign(size_t(B) * T * k * h, 0.0);
  dKey.assign(size_t(B) * S * h, 0.0);
  dValue.assign(size_t(B) * S * h, 0.0);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < k; ++j) {
        const size_t row = (size_t(b) * T + t) * k + j;
        const double *q = &query[row * h];
        const double *dO = &dOut[row * h];
        // The same visibility and stable softmax as the forward reference.
        std::vector<double> score(S, 0.0);
        std::vector<bool> visible(S);
        double m = -std::numeric_limits<double>::infinity();
        bool any = false;
        for (int s = 0; s < S; ++s) {
          visible[s] = !(causal && s > t) &&
                       !(keyPadding && (*keyPadding)[size_t(b) * S + s]);
          if (!visible[s])
            continue;
          any = true;
          double v = 0;
          for (int i = 0; i < h; ++i)
            v += q[i] * key[(size_t(b) * S + s) * h + i];
          score[s] = v * scale;
          m = std::max(m, score[s]);
        }
        if (!any) // constant zero output: zero gradients, no 0/0
          continue;
        double z = 0;
        for (int s = 0; s < S; ++s)
          if (visible[s])
            z += std::exp(score[s] - m);
        // a_s, then dA_s = <dO, V_s> and dScore_s = a_s (dA_s - <a, dA>).
        std::vector<double> a(S, 0.0), dA(S, 0.0);
        double dot = 0;
        for (int s = 0; s < S; ++s) {
          if (!visible[s])
            continue;
          a[s] = std::exp(score[s] - m) / z;
          const double *v = &value[(size_t(b) * S + s) * h];
          for (int i = 0; i < h; ++i)
            dA[s] += dO[i] * v[i];
          dot += a[s] * dA[s];
        }
        if (out) { // <a, dA> = <dO, O>, with O as the caller has it
          dot = 0;
          for (int i = 0; i < h; ++i)
            dot += dO[i] * (*out)[row * h + i];
        }
        double *dq = &dQuery[row * h];
        for (int s = 0; s < S; ++s) {
          if (!visible[s])
            continue;
          const double dScore = a[s] * (dA[s] - dot) * scale;
          const double *kr = &key[(size_t(b) * S + s) * h];
          double *dk = &dKey[(size_t(b) * S + s) * h];
          double *dv = &dValue[(size_t(b) * S + s) * h];
          for (int i = 0; i < h; ++i) {
            dq[i] += dScore * kr[i];
            dk[i] += dScore * q[i];
            dv[i] += a[s] * dO[i];
          }
        }
      }
}

LayerGradients mixtureAttentionBackward(const LayerInputs &in,
                                        const LayerOptions &options,
                                        const Buffer &dy,
                                        const Buffer *dLogits) {
  const int B = in.batch, T = in.queryLength, d = in.d, E = in.experts,
            h = in.h, k = options.k, N = B * T;
  const Buffer &memory = in.memory ? *in.memory : in.x;
  const int S = in.memory ? in.keyLength : T;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(h);

  // Forward intermediates, from the forward reference itself; in mixed
  // precision (options.rounding) rounded where the compiled code keeps bf16:
  // the expert path's operands and results, and each gradient a bf16
  // backward op reads or writes (the router and the adjoint sums stay f32).
  const Rounding &rounding = options.rounding;
  const Buffer logits = matmul(in.x, in.wGate, N, d, E);
  const Routing routing = route(logits, N, E, options, in.queryPadding);
  const std::vector<int> &idx = routing.indices;
  const Buffer x = rounding(in.x), m = rounding(memory);
  const Buffer wQuery = rounding(in.wQuery), wKey = rounding(in.wKey),
               wValue = rounding(in.wValue), wOut = rounding(in.wOut);
  const Buffer query = rounding(groupedMatmul(x, /*perPairInput=*/false, wQuery,
                                              N, k, d, h, idx, nullptr));
  const Buffer key = rounding(matmul(m, wKey, B * S, d, h));
  const Buffer value = rounding(matmul(m, wValue, B * S, d, h));
  const Buffer attended = rounding(
      multiQueryAttention(query, key, value, B, T, S, k, h, options.causal,
                          in.keyPadding, scale, rounding));
  const Buffer dyRounded = rounding(dy);

  LayerGradients g;
  g.dx.assign(size_t(N) * d, 0.0);
  g.dWQuery.assign(size_t(E) * d * h, 0.0);
  g.dWOut.assign(size_t(E) * h * d, 0.0);

  // y_t = sum_j g_t[j] * attended_p W_o[e] for each dispatched pair p.
  Buffer dGates(size_t(N) * k, 0.0), dAttended(size_t(N) * k * h, 0.0);
  for (int t = 0; t < N; ++t)
    for (int j = 0; j < k; ++j) {
      const size_t p = size_t(t) * k + j;
      const int e = idx[p];
      if (e < 0)
        continue;
      const double gate = routing.gates[p];
      const double *dyRow = &dyRounded[size_t(t) * d];
      const double *att = &attended[p * h];
      for (int i = 0; i < h; ++i) {
        const double *wRow = &wOut[(size_t(e) * h + i) * d];
        double *dwRow = &g.dWOut[(size_t(e) * h + i) * d];
        double s = 0;
        for (int n = 0; n < d; ++n) {
          s += wRow[n] * dyRow[n];
          dwRow[n] += att[i] * gate * dyRow[n];
        }
        dGates[p] += att[i] * s; // <attended W_o[e], dy> = <attended, W_o dy>
        dAttended[p * h + i] = gate * s;
      }
    }
  g.dWOut = rounding(std::move(g.dWOut));
  dAttended = rounding(std::move(dAttended));

  Buffer dQuery, dKey, dValue;
  multiQueryAttentionBackward(query, key, value, B, T, S, k, h, options.causal,
                              in.keyPadding, scale, dAttended, dQuery, dKey,
                              dValue, &attended);
  dQuery = rounding(std::move(dQuery));
  dKey = rounding(std::move(dKey));
  dValue = rounding(std::move(dValue));

  // q_p = x_t W_q[e]: only dispatched pairs have a query.
  Buffer dxQuery(size_t(N) * d, 0.0);
  for (int t = 0; t < N; ++t)
    for (int j = 0; j < k; ++j) {
      const size_t p = size_t(t) * k + j;
      const int e = idx[p];
      if (e < 0)
        continue;
      const double *xRow = &x[size_t(t) * d];
      const double *dq = &dQuery[p * h];
      for (int c = 0; c < d; ++c) {
        const double *wRow = &wQuery[(size_t(e) * d + c) * h];
        double *dwRow = &g.dWQuery[(size_t(e) * d + c) * h];
        double s = 0;
        for (int i = 0; i < h; ++i) {
          s += dq[i] * wRow[i];
          dwRow[i] += xRow[c] * dq[i];
        }
        dxQuery[size_t(t) * d + c] += s;
      }
    }
  g.dWQuery = rounding(std::move(g.dWQuery));
  addRounded(rounding, dxQuery, g.dx);

  // K = M W_k, V = M W_v: the memory path goes to dMemory, or to dx when the
  // memory is x itself.
  g.dWKey = matmulTransposedLeft(m, dKey, B * S, d, h);
  g.dWValue = matmulTransposedLeft(m, dValue, B * S, d, h);
  Buffer &dMemory = in.memory ? g.dMemory : g.dx;
  if (in.memory)
    dMemory.assign(size_t(B) * S * d, 0.0);
  for (auto [dProjected, weight] :
       {std::pair{&dKey, &wKey}, std::pair{&dValue, &wValue}}) {
    Buffer dm(size_t(B) * S * d, 0.0);
    accumulateMatmulTransposedRight(*dProjected, *weight, B * S, d, h, dm);
    addRounded(rounding, dm, dMemory);
  }

  // logits = x W_g, reached from the gates and from dLogits.
  Buffer dLogitsTotal = routeBackward(logits, routing, dGates, N, E, options);
  if (dLogits)
    for (size_t i = 0; i < dLogitsTotal.size(); ++i)
      dLogitsTotal[i] += (*dLogits)[i];
  g.dWGate = matmulTransposedLeft(in.x, dLogitsTotal, N, d, E);
  accumulateMatmulTransposedRight(dLogitsTotal, in.wGate, N, d, E, g.dx);
  return g;
}

Buffer loadBalancingLossBackward(const Buffer &logits,
                                 const std::vector<int> &indices, int tokens,
                                 int experts, int k, const Mask *padding) {
  Buffer dLogits(size_t(tokens) * experts, 0.0);
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
  double sumP = 0, sumC = 0, cross = 0;
  for (int e = 0; e < experts; ++e) {
    sumP += P[e];
    sumC += c[e];
    cross += P[e] * c[e];
  }
  if (sumP == 0 || sumC == 0)
    return dLogits;
  // L = E * sum_e P_e c_e / (sumP sumC): quotient rule in P_e.
  std::vector<double> dP(experts);
  for (int e = 0; e < experts; ++e)
    dP[e] = experts * (c[e] / (sumP * sumC) - cross / (sumP * sumP * sumC));
  for (int t = 0; t < tokens; ++t) {
    if (padding && (*padding)[t])
      continue;
    std::vector<double> p = softmax(&logits[size_t(t) * experts], experts);
    std::vector<double> dl = softmaxBackward(p, dP);
    for (int e = 0; e < experts; ++e)
      dLogits[size_t(t) * experts + e] = dl[e];
  }
  return dLogits;
}

Buffer routerZLossBackward(const Buffer &logits, int tokens, int experts,
                           const Mask *padding) {
  Buffer dLogits(size_t(tokens) * experts, 0.0);
  int n = 0;
  for (int t = 0; t < tokens; ++t)
    if (!(padding && (*padding)[t]))
      ++n;
  for (int t = 0; t < tokens; ++t) {
    if (padding && (*padding)[t])
      continue;
    const double *l = &logits[size_t(t) * experts];
    // d lse / d l = softmax(l).
    const double lse = logSumExp(l, experts);
    std::vector<double> p = softmax(l, experts);
    for (int e = 0; e < experts; ++e)
      dLogits[size_t(t) * experts + e] = 2.0 * lse * p[e] / n;
  }
  return dLogits;
}

namespace {
constexpr double kImportanceEpsilon = 1e-10;

/// importance_e = sum of the gates of the pairs routed to e.
std::vector<double> importance(const Buffer &gates,
                               const std::vector<int> &indices, int pairs,
                               int experts) {
  std::vector<double> imp(experts, 0.0);
  for (int p = 0; p < pairs; ++p) {
    const int e = indices[p];
    if (e == -1)
      continue;
    if (e < 0 || e >= experts) {
      std::fprintf(stderr, "importanceCVLoss: index %d outside [-1, %d)\n", e,
                   experts);
      std::abort();
    }
    imp[e] += gates[p];
  }
  return imp;
}
} // namespace

double importanceCVLoss(const Buffer &gates, const std::vector<int> &indices,
                        int pairs, int experts) {
  const std::vector<double> imp = importance(gates, indices, pairs, experts);
  if (experts == 1)
    return 0.0;
  double mean = 0;
  for (double v : imp)
    mean += v;
  mean /= experts;
  double var = 0;
  for (double v : imp)
    var += (v - mean) * (v - mean);
  var /= experts - 1;
  return var / (mean * mean + kImportanceEpsilon);
}

Buffer importanceCVLossBackward(const Buffer &gates,
                                const std::vector<int> &indices, int pairs,
                                int experts) {
  Buffer dGates(pairs, 0.0);
  const std::vector<double> imp = importance(gates, indices, pairs, experts);
  if (experts == 1)
    return dGates;
  double mean = 0;
  for (double v : imp)
    mean += v;
  mean /= experts;
  double var = 0;
  for (double v : imp)
    var += (v - mean) * (v - mean);
  var /= experts - 1;
  const double denominator = mean * mean + kImportanceEpsilon;
  // L = var / den: dvar/dI_e = 2 (I_e - m) / (E - 1) (the terms through m
  // sum to zero), dden/dI_e = 2 m / E.
  std::vector<double> dImp(experts);
  for (int e = 0; e < experts; ++e)
    dImp[e] = 2.0 * (imp[e] - mean) / ((experts - 1) * denominator) -
              var * 2.0 * mean / (experts * denominator * denominator);
  for (int p = 0; p < pairs; ++p)
    if (indices[p] != -1)
      dGates[p] = dImp[indices[p]];
  return dGates;
}

namespace {
/// log p(e|t) = logits_te - logsumexp(logits_t) of the non-padded tokens
/// (rows of padded tokens are left empty); n: how many there are.
std::vector<std::vector<double>> logRouterProbabilities(const Buffer &logits,
                                                        int tokens, int experts,
                                                        const Mask *padding,
                                                        int &n) {
  std::vector<std::vector<double>> logP(tokens);
  n = 0;
  for (int t = 0; t < tokens; ++t) {
    if (padding && (*padding)[t])
      continue;
    const double *l = &logits[size_t(t) * experts];
    const double lse = logSumExp(l, experts);
    logP[t].resize(experts);
    for (int e = 0; e < experts; ++e)
      logP[t][e] = l[e] - lse;
    ++n;
  }
  return logP;
}

/// p(e) = (1/n) sum_t p(e|t) over the non-padded tokens.
std::vector<double>
marginalExpertProbabilities(const std::vector<std::vector<double>> &logP,
                            int experts, int n) {
  std::vector<double> marginal(experts, 0.0);
  for (const std::vector<double> &row : logP)
    for (size_t e = 0; e < row.size(); ++e)
      marginal[e] += std::exp(row[e]);
  for (double &v : marginal)
    v /= n;
  return marginal;
}
} // namespace

double mutualInformationLoss(const Buffer &logits, int tokens, int experts,
                             const Mask *padding) {
  int n = 0;
  const std::vector<std::vector<double>> logP =
      logRouterProbabilities(logits, tokens, experts, padding, n);
  if (n == 0)
    return 0.0;
  double conditional = 0; // H(E|T)
  for (const std::vector<double> &row : logP)
    for (double lp : row)
      conditional -= std::exp(lp) * lp;
  conditional /= n;
  double marginal = 0; // H(E), with 0 log 0 = 0
  for (double p : marginalExpertProbabilities(logP, experts, n))
    if (p > 0)
      marginal -= p * std::log(p);
  return conditional - marginal;
}

Buffer mutualInformationLossBackward(const Buffer &logits, int tokens,
                                     int experts, const Mask *padding) {
  Buffer dLogits(size_t(tokens) * experts, 0.0);
  int n = 0;
  const std::vector<std::vector<double>> logP =
      logRouterProbabilities(logits, tokens, experts, padding, n);
  if (n == 0)
    return dLogits;
  const std::vector<double> marginal =
      marginalExpertProbabilities(logP, experts, n);
  for (int t = 0; t < tokens; ++t) {
    if (logP[t].empty())
      continue;
    // dH(E|T)/dp(e|t) = -(log p(e|t) + 1) / n and dH(E)/dp(e|t) =
    // -(log p(e) + 1) / n: the constants cancel in L = H(E|T) - H(E).
    std::vector<double> p(experts), dp(experts);
    for (int e = 0; e < experts; ++e) {
      p[e] = std::exp(logP[t][e]);
      dp[e] = (std::log(marginal[e]) - logP[t][e]) / n;
    }
    const std::vector<double> d = softmaxBackward(p, dp);
    for (int e = 0; e < experts; ++e)
      dLogits[size_t(t) * experts + e] = d[e];
  }
  return dLogits;
}

Buffer layerNorm(const Buffer &x, const Buffer &gamma, const Buffer &beta,
                 int rows, int d, double eps) {
  Buffer y(size_t(rows) * d);
  for (int r = 0; r < rows; ++r) {
    const double *xr = &x[size_t(r) * d];
    double mean = 0, var = 0;
    for (int i = 0; i < d; ++i)
      mean += xr[i];
    mean /= d;
    for (int i = 0; i < d; ++i)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= d;
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int i = 0; i < d; ++i)
      y[size_t(r) * d + i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
  }
  return y;
}

void layerNormBackward(const Buffer &x, const Buffer &gamma, int rows, int d,
                       double eps, const Buffer &dy, Buffer &dx, Buffer &dGamma,
                       Buffer &dBeta) {
  dx.assign(size_t(rows) * d, 0.0);
  dGamma.assign(d, 0.0);
  dBeta.assign(d, 0.0);
  for (int r = 0; r < rows; ++r) {
    const double *xr = &x[size_t(r) * d];
    const double *dyr = &dy[size_t(r) * d];
    double mean = 0, var = 0;
    for (int i = 0; i < d; ++i)
      mean += xr[i];
    mean /= d;
    for (int i = 0; i < d; ++i)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= d;
    const double rstd = 1.0 / std::sqrt(var + eps);
    // With xhat = (x - mean) rstd and dxhat = dy gamma (mean and var both
    // depend on every x_i of the row):
    // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
    std::vector<double> xhat(d), dxhat(d);
    double meanD = 0, meanDX = 0;
    for (int i = 0; i < d; ++i) {
      xhat[i] = (xr[i] - mean) * rstd;
      dxhat[i] = dyr[i] * gamma[i];
      dGamma[i] += dyr[i] * xhat[i];
      dBeta[i] += dyr[i];
      meanD += dxhat[i];
      meanDX += dxhat[i] * xhat[i];
    }
    meanD /= d;
    meanDX /= d;
    for (int i = 0; i < d; ++i)
      dx[size_t(r) * d + i] = rstd * (dxhat[i] - meanD - xhat[i] * meanDX);
  }
}

Buffer embedding(const std::vector<int> &ids, const Buffer &table, int vocab,
                 int d) {
  Buffer out(ids.size() * d);
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] < 0 || ids[r] >= vocab)
      fail("embedding id out of range");
    for (int i = 0; i < d; ++i)
      out[r * d + i] = table[size_t(ids[r]) * d + i];
  }
  return out;
}

Buffer embeddingBackward(const std::vector<int> &ids, const Buffer &dOut,
                         int vocab, int d) {
  Buffer dTable(size_t(vocab) * d, 0.0);
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] < 0 || ids[r] >= vocab)
      fail("embedding id out of range");
    for (int i = 0; i < d; ++i)
      dTable[size_t(ids[r]) * d + i] += dOut[r * d + i];
  }
  return dTable;
}

double crossEntropy(const Buffer &logits, const std::vector<int> &targets,
                    int rows, int vocab) {
  double total = 0;
  int n = 0;
  for (int r = 0; r < rows; ++r) {
    if (targets[r] == -1)
      continue;
    if (targets[r] < 0 || targets[r] >= vocab)
      fail("cross_entropy target out of range");
    const double *l = &logits[size_t(r) * vocab];
    total += logSumExp(l, vocab) - l[targets[r]];
    ++n;
  }
  return n ? total / n : 0.0;
}

Buffer crossEntropyBackward(const Buffer &logits,
                            const std::vector<int> &targets, int rows,
                            int vocab) {
  Buffer dLogits(size_t(rows) * vocab, 0.0);
  int n = 0;
  for (int r = 0; r < rows; ++r)
    if (targets[r] != -1)
      ++n;
  for (int r = 0; r < rows; ++r) {
    if (targets[r] == -1)
      continue;
    if (targets[r] < 0 || targets[r] >= vocab)
      fail("cross_entropy target out of range");
    std::vector<double> p = softmax(&logits[size_t(r) * vocab], vocab);
    for (int v = 0; v < vocab; ++v)
      dLogits[size_t(r) * vocab + v] =
          (p[v] - (v == targets[r] ? 1.0 : 0.0)) / n;
  }
  return dLogits;
}

} // namespace moa::reference
