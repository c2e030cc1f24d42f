//===- TinyLMReference.cpp - Reference of examples/tiny_lm.mlir -----------===//

#include "TinyLMReference.h"
#include "MoAReferenceGrad.h"

#include <cstdio>
#include <cstdlib>

namespace moa::reference {

std::array<Buffer *, TinyLMParameters::kCount> TinyLMParameters::list() {
  return {&tokEmb, &posEmb, &ln1G, &ln1B, &wGate, &wQuery, &wKey, &wValue,
          &wOut,   &ln2G,   &ln2B, &wFf1, &wFf2,  &lnfG,   &lnfB, &wVocab};
}

std::array<const Buffer *, TinyLMParameters::kCount>
TinyLMParameters::list() const {
  return {&tokEmb, &posEmb, &ln1G, &ln1B, &wGate, &wQuery, &wKey, &wValue,
          &wOut,   &ln2G,   &ln2B, &wFf1, &wFf2,  &lnfG,   &lnfB, &wVocab};
}

const std::array<const char *, TinyLMParameters::kCount> &
TinyLMParameters::names() {
  static const std::array<const char *, kCount> names = {
      "tok_emb", "pos_emb", "ln1_g", "ln1_b",  "w_gate", "w_query",
      "w_key",   "w_value", "w_out", "ln2_g",  "ln2_b",  "w_ff1",
      "w_ff2",   "lnf_g",   "lnf_b", "w_vocab"};
  return names;
}

std::array<std::vector<int>, TinyLMParameters::kCount>
TinyLMParameters::shapes(const TinyLMConfig &c) {
  return {std::vector<int>{c.vocab, c.d},
          {c.maxPositions, c.d},
          {c.d},
          {c.d},
          {c.d, c.experts},
          {c.experts, c.d, c.h},
          {c.d, c.h},
          {c.d, c.h},
          {c.experts, c.h, c.d},
          {c.d},
          {c.d},
          {c.d, c.ffn},
          {c.ffn, c.d},
          {c.d},
          {c.d},
          {c.d, c.vocab}};
}

namespace {

[[noreturn]] void fail(const char *what) {
  std::fprintf(stderr, "moa::reference (tiny_lm): %s\n", what);
  std::abort();
}

Buffer add(const Buffer &a, const Buffer &b) {
  Buffer out(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    out[i] = a[i] + b[i];
  return out;
}

void accumulate(Buffer &into, const Buffer &b) {
  for (size_t i = 0; i < into.size(); ++i)
    into[i] += b[i];
}

/// dOut [n, N] times weight [K, N] transposed: the input gradient of rows W.
Buffer inputGradient(const Buffer &dOut, const Buffer &weight, int n, int kDim,
                     int nDim) {
  Buffer dIn(size_t(n) * kDim, 0.0);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < kDim; ++c) {
      double s = 0;
      for (int j = 0; j < nDim; ++j)
        s += dOut[size_t(r) * nDim + j] * weight[size_t(c) * nDim + j];
      dIn[size_t(r) * kDim + c] = s;
    }
  return dIn;
}

LayerOptions layerOptions(const TinyLMConfig &c) {
  LayerOptions o;
  o.k = c.k;
  o.causal = true; // official gating, no renormalisation, scale h^-0.5
  o.rounding = c.rounding;
  return o;
}

/// Every intermediate of the forward pass that the backward needs.
struct Activations {
  int rows = 0;
  Buffer x0, h1, x1, h2, u, r, x2, hf; // h2, hf as the GEMMs read them
  LayerInputs layer;
  TinyLMOutputs out;
};

void checkData(const TinyLMData &data) {
  const size_t rows = size_t(data.batch) * data.length;
  if (data.tokens.size() != rows || data.positions.size() != rows ||
      data.targets.size() != rows)
    fail("tokens, positions and targets must all have B*T elements");
}

void checkParameters(const TinyLMConfig &c, const TinyLMParameters &p) {
  const auto shapes = TinyLMParameters::shapes(c);
  const auto list = p.list();
  for (int i = 0; i < TinyLMParameters::kCount; ++i) {
    size_t n = 1;
    for (int extent : shapes[i])
      n *= size_t(extent);
    if (list[i]->size() != n) {
      std::fprintf(stderr,
                   "moa::reference (tiny_lm): %s has %zu elements, "
                   "expected %zu\n",
                   TinyLMParameters::names()[i], list[i]->size(), n);
      std::abort();
    }
  }
}

Activations forward(const TinyLMConfig &c, const TinyLMParameters &p,
                    const TinyLMData &data) {
  checkData(data);
  checkParameters(c, p);
  Activations a;
  const int N = data.batch * data.length, d = c.d;
  a.rows = N;

  // Embeddings.
  a.x0 = add(embedding(data.tokens, p.tokEmb, c.vocab, d),
             embedding(data.positions, p.posEmb, c.maxPositions, d));

  // Causal MoA self-attention, pre-LN, residual.
  a.h1 = layerNorm(a.x0, p.ln1G, p.ln1B, N, d, c.epsilon);
  LayerInputs &in = a.layer;
  in.batch = data.batch;
  in.queryLength = in.keyLength = data.length;
  in.d = d;
  in.experts = c.experts;
  in.h = c.h;
  in.x = a.h1;
  in.wGate = p.wGate;
  in.wQuery = p.wQuery;
  in.wKey = p.wKey;
  in.wValue = p.wValue;
  in.wOut = p.wOut;
  LayerOutputs layer = mixtureAttention(in, layerOptions(c));
  a.x1 = add(a.x0, layer.y);

  // ReLU FFN, pre-LN, residual.
  const Rounding &rounding = c.rounding;
  a.h2 = rounding(layerNorm(a.x1, p.ln2G, p.ln2B, N, d, c.epsilon));
  a.u = rounding(matmul(a.h2, rounding(p.wFf1), N, d, c.ffn));
  a.r = a.u;
  for (double &v : a.r)
    v = v > 0 ? v : 0.0;
  a.x2 = add(a.x1, rounding(matmul(a.r, rounding(p.wFf2), N, c.ffn, d)));

  // Output projection and losses.
  a.hf = rounding(layerNorm(a.x2, p.lnfG, p.lnfB, N, d, c.epsilon));
  TinyLMOutputs &out = a.out;
  out.logits = rounding(matmul(a.hf, rounding(p.wVocab), N, d, c.vocab));
  out.ce = crossEntropy(out.logits, data.targets, N, c.vocab);
  out.routerLogits = std::move(layer.logits);
  // moa.route on the router logits: the same choice mixtureAttention made
  // (k = 2, official gating, no padding).
  out.routing = route(out.routerLogits, N, c.experts, layerOptions(c),
                      /*queryPadding=*/nullptr);
  out.lb = loadBalancingLoss(out.routerLogits, out.routing.indices, N,
                             c.experts, c.k, /*padding=*/nullptr);
  out.z = routerZLoss(out.routerLogits, N, c.experts, /*padding=*/nullptr);
  out.loss = out.ce + c.lbWeight * out.lb + c.zWeight * out.z;
  out.ffnPre = a.u;
  return a;
}

} // namespace

TinyLMOutputs tinyLMForward(const TinyLMConfig &config,
                            const TinyLMParameters &params,
                            const TinyLMData &data) {
  return forward(config, params, data).out;
}

TinyLMParameters tinyLMBackward(const TinyLMConfig &c,
                                const TinyLMParameters &p,
                                const TinyLMData &data,
                                TinyLMOutputs *forwardOut) {
  const Activations a = forward(c, p, data);
  const int N = a.rows, d = c.d;
  const Rounding &rounding = c.rounding;
  TinyLMParameters g;

  // loss = ce + lbWeight lb + zWeight z, seeded with d loss = 1.
  // logits = hf W_vocab.
  const Buffer dLogits =
      rounding(crossEntropyBackward(a.out.logits, data.targets, N, c.vocab));
  g.wVocab = matmulTransposedLeft(a.hf, dLogits, N, d, c.vocab);
  const Buffer dHf =
      rounding(inputGradient(dLogits, rounding(p.wVocab), N, d, c.vocab));

  // hf = layer_norm(x2).
  Buffer dX2;
  layerNormBackward(a.x2, p.lnfG, N, d, c.epsilon, dHf, dX2, g.lnfG, g.lnfB);

  // x2 = x1 + relu(u) W_ff2, u = h2 W_ff1.
  Buffer dX1 = dX2;
  const Buffer dF = rounding(dX2);
  g.wFf2 = matmulTransposedLeft(a.r, dF, N, c.ffn, d);
  Buffer dU = rounding(inputGradient(dF, rounding(p.wFf2), N, c.ffn, d));
  for (size_t i = 0; i < dU.size(); ++i)
    if (!(a.u[i] > 0))
      dU[i] = 0;
  g.wFf1 = matmulTransposedLeft(a.h2, dU, N, d, c.ffn);
  const Buffer dH2 = rounding(inputGradient(dU, rounding(p.wFf1), N, d, c.ffn));

  // h2 = layer_norm(x1).
  Buffer dX1Norm;
  layerNormBackward(a.x1, p.ln2G, N, d, c.epsilon, dH2, dX1Norm, g.ln2G,
                    g.ln2B);
  accumulate(dX1, dX1Norm);

  // x1 = x0 + attn; the router logits reach the loss through lb and z (the
  // load-balancing counts come from the routing and are constants).
  Buffer dX0 = dX1;
  Buffer dRouter =
      loadBalancingLossBackward(a.out.routerLogits, a.out.routing.indices, N,
                                c.experts, c.k, /*padding=*/nullptr);
  const Buffer dZ = routerZLossBackward(a.out.routerLogits, N, c.experts,
                                        /*padding=*/nullptr);
  for (size_t i = 0; i < dRouter.size(); ++i)
    dRouter[i] = c.lbWeight * dRouter[i] + c.zWeight * dZ[i];
  const LayerGradients layer =
      mixtureAttentionBackward(a.layer, layerOptions(c), dX1, &dRouter);
  g.wGate = layer.dWGate;
  g.wQuery = layer.dWQuery;
  g.wKey = layer.dWKey;
  g.wValue = layer.dWValue;
  g.wOut = layer.dWOut;

  // h1 = layer_norm(x0).
  Buffer dX0Norm;
  layerNormBackward(a.x0, p.ln1G, N, d, c.epsilon, layer.dx, dX0Norm, g.ln1G,
                    g.ln1B);
  accumulate(dX0, dX0Norm);

  // x0 = tok_emb[tokens] + pos_emb[positions].
  g.tokEmb = embeddingBackward(data.tokens, dX0, c.vocab, d);
  g.posEmb = embeddingBackward(data.positions, dX0, c.maxPositions, d);

  if (forwardOut)
    *forwardOut = a.out;
  return g;
}

} // namespace moa::reference
