//===- MoAReference.h - Independent reference of the MoA math ---*- C++ -*-===//
//
// Plain loops in double precision, written from moa-spec.md alone: no code
// is shared with the lowering or the kernels. Tensors are row-major
// std::vector<double>; masks are std::vector<char> (1 = padding).
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_REFERENCE_MOAREFERENCE_H
#define MOA_TEST_REFERENCE_MOAREFERENCE_H

#include <optional>
#include <vector>

namespace moa::reference {

using Buffer = std::vector<double>;
using Mask = std::vector<char>;

/// `v` rounded as the compiled code rounds an f32 result to bf16 (to f32,
/// then to bf16, each to nearest even).
double roundToBF16(double v);

/// The rounding points of mixed precision (moa-generate-gradients
/// mixed-precision=bf16): with `bf16` set, a value the compiled code keeps
/// in bf16 is rounded (roundToBF16); without it nothing is rounded. With
/// `probabilities` too, the attention's unnormalised probabilities
/// exp(s - max) are rounded before they weight the values, as the GPU's
/// tensor-core attention rounds its P operand (exactly so while a row's keys
/// fit in one of its key tiles).
struct Rounding {
  bool bf16 = false;
  bool probabilities = false;
  Buffer operator()(Buffer values) const;
};

struct LayerOptions {
  int k = 1;
  Rounding rounding;        // bf16: the layer's GEMMs and attention in bf16
  bool topkSoftmax = false; // false: official softmax over E, then top-k
  bool renormalize = false;
  bool causal = false;
  std::optional<double> scale; // default h^-0.5
};

struct Routing {
  std::vector<int> indices; // [B*T*k], -1 for padded tokens
  Buffer gates;             // [B*T*k]
};

/// Softmax and log-sum-exp of v[0 : n], computed stably.
std::vector<double> softmax(const double *v, int n);
double logSumExp(const double *v, int n);

/// logits [tokens, E] -> top-k indices (descending probability, ties to the
/// lower index) and gates; padded tokens (queryPadding[t] = 1) get -1 and 0.
Routing route(const Buffer &logits, int tokens, int experts,
              const LayerOptions &options, const Mask *queryPadding);

/// Expected moa.dispatch result: a stable sort of the pairs by expert.
void dispatch(const std::vector<int> &indices, int experts,
              std::vector<int> &permutation, std::vector<int> &offsets);

/// moa.grouped_matmul: for every pair p = token * k + j with expert
/// indices[p] >= 0, product = row(p) weight[indices[p]] ([E, K, N]) where
/// row(p) is input[token] (perPairInput false, input [tokens, K]) or
/// input[p] ([tokens * k, K]). Without gates the result is [tokens * k, N]
/// (zero rows for pairs not dispatched); with gates [tokens * k] it is
/// [tokens, N], the gate-weighted sum over each token's pairs.
Buffer groupedMatmul(const Buffer &input, bool perPairInput,
                     const Buffer &weight, int tokens, int k, int kDim,
                     int nDim, const std::vector<int> &indices,
                     const Buffer *gates);

/// moa.multi_query_attention: query [B, T, k, h], key and value [B, S, h],
/// keyPadding [B, S] (1 = padding); a query row with no visible key gives 0.
Buffer multiQueryAttention(const Buffer &query, const Buffer &key,
                           const Buffer &value, int batch, int queryLength,
                           int keyLength, int k, int h, bool causal,
                           const Mask *keyPadding, double scale,
                           const Rounding &rounding = {});

/// rows [n, K] times weight [K, N].
Buffer matmul(const Buffer &rows, const Buffer &weight, int n, int kDim,
              int nDim);

struct LayerInputs {
  int batch = 0, queryLength = 0, keyLength = 0; // B, T, S
  int d = 0, experts = 0, h = 0;
  Buffer x;                           // [B, T, d]
  const Buffer *memory = nullptr;     // [B, S, d]; null: self-attention
  Buffer wGate;                       // [d, E]
  Buffer wQuery;                      // [E, d, h]
  Buffer wKey, wValue;                // [d, h]
  Buffer wOut;                        // [E, h, d]
  const Mask *keyPadding = nullptr;   // [B, S]
  const Mask *queryPadding = nullptr; // [B, T]
};

struct LayerOutputs {
  Buffer y;      // [B, T, d]
  Buffer logits; // [B, T, E]
  Routing routing;
};

LayerOutputs mixtureAttention(const LayerInputs &in,
                              const LayerOptions &options);

/// Switch load-balancing loss and router z-loss over non-padded tokens.
double loadBalancingLoss(const Buffer &logits, const std::vector<int> &indices,
                         int tokens, int experts, int k, const Mask *padding);
double routerZLoss(const Buffer &logits, int tokens, int experts,
                   const Mask *padding);

} // namespace moa::reference

#endif // MOA_TEST_REFERENCE_MOAREFERENCE_H
