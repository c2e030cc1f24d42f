//===- MoAReferenceGrad.h - Reference of the MoA backward ------*- C++ -*-===//
//
// The backward counterpart of MoAReference.h: plain loops in double
// precision, written from moa-spec.md and the forward reference alone (no
// code is shared with the lowering or the kernels), so that the compiler's
// gradients can be compared with something that was derived independently.
// Every function here is checked against the forward reference by central
// finite differences in test/Reference/ReferenceGradTest.cpp.
//
// Conventions shared by all functions:
//   - tensors are row-major Buffers, masks are Mask (1 = padding), exactly as
//     in MoAReference.h;
//   - no gradient flows through the top-k indices: the routing is the one the
//     forward pass chose, and the functions are differentiated with that
//     routing held fixed (the true derivative wherever no two
//     probabilities tie);
//   - a gradient that does not exist mathematically (a padded token's gates,
//     a query row with every key masked) is exactly zero, never NaN.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_REFERENCE_MOAREFERENCEGRAD_H
#define MOA_TEST_REFERENCE_MOAREFERENCEGRAD_H

#include "MoAReference.h"

#include <vector>

namespace moa::reference {

/// Gradients of the mixture_attention sub-layer (see mixtureAttentionBackward).
struct LayerGradients {
  Buffer dx;      // [B, T, d]; includes the key/value path for self-attention
  Buffer dMemory; // [B, S, d] for cross-attention (memory != null), else empty
  Buffer dWGate;  // [d, E]
  Buffer dWQuery; // [E, d, h]
  Buffer dWKey;   // [d, h]
  Buffer dWValue; // [d, h]
  Buffer dWOut;   // [E, h, d]
};

/// Gradients of mixtureAttention(in, options) for an upstream gradient dy
/// [B, T, d] on y and, when dLogits ([B, T, E]) is not null, on the router
/// logits result. The routing is recomputed as the forward pass does and then
/// held fixed. Gate gradients dg_t[j] = <o_j, dy_t> flow back through the
/// renormalisation (if set) and the softmax over all E (softmax then top-k)
/// or over the k selected logits (topk_softmax). Padded query tokens get no
/// gradient through the routing and attention paths; dLogits still flows to x
/// and w_gate for every token because the logits are computed for all tokens.
/// In self-attention a padded query token is still a key and value (unless
/// key-padded), so its dx row can be nonzero through that path.
LayerGradients mixtureAttentionBackward(const LayerInputs &in,
                                        const LayerOptions &options,
                                        const Buffer &dy,
                                        const Buffer *dLogits);

/// a [n, K] transposed times b [n, N]: the weight gradient of `matmul`.
Buffer matmulTransposedLeft(const Buffer &a, const Buffer &b, int n, int kDim,
                            int nDim);

/// Gradient w.r.t. logits [tokens, E] of the gates route() returns, for
/// dGates [tokens * k] (same layout as Routing::gates); routing is the result
/// of route() on the same logits and options and fixes the selection. Rows of
/// padded tokens (indices -1) are zero. Result: [tokens, E].
Buffer routeBackward(const Buffer &logits, const Routing &routing,
                     const Buffer &dGates, int tokens, int experts,
                     const LayerOptions &options);

/// Backward of multiQueryAttention with the same arguments and dOut
/// [B, T, k, h]: dQuery [B, T, k, h], dKey and dValue [B, S, h] (all
/// overwritten). A query row with no visible key has a constant zero output,
/// so it gets a zero dQuery row and adds nothing to dKey and dValue. With
/// `out`, the forward result as the caller keeps it (rounded to bf16 in
/// mixed precision), <dO, out> stands for <softmax, dO V> per row, as the
/// compiled backward computes it.
void multiQueryAttentionBackward(const Buffer &query, const Buffer &key,
                                 const Buffer &value, int batch,
                                 int queryLength, int keyLength, int k, int h,
                                 bool causal, const Mask *keyPadding,
                                 double scale, const Buffer &dOut,
                                 Buffer &dQuery, Buffer &dKey, Buffer &dValue,
                                 const Buffer *out = nullptr);

/// d loadBalancingLoss / d logits [tokens, E]. The assignment counts c_e come
/// from indices and are constants; sum_e P_e is differentiated as written
/// even though it always equals the number of non-padded tokens (its
/// derivative then cancels). Zero when loadBalancingLoss returns its
/// degenerate 0 (no non-padded token or no assignment).
Buffer loadBalancingLossBackward(const Buffer &logits,
                                 const std::vector<int> &indices, int tokens,
                                 int experts, int k, const Mask *padding);

/// d routerZLoss / d logits [tokens, E]: 2 lse_t softmax(logits_t) / n for
/// each of the n non-padded tokens, zero rows for padded tokens.
Buffer routerZLossBackward(const Buffer &logits, int tokens, int experts,
                           const Mask *padding);

/// moa.importance_cv_loss: the squared coefficient of variation of the
/// experts' importance, importance_e = the sum of gates[p] over the pairs p
/// (of `pairs`, i.e. B * T * k) with indices[p] == e (pairs with index -1 add
/// nothing; any other index outside [0, E) aborts),
/// L = var(importance) / (mean(importance)^2 + 1e-10) with the unbiased
/// variance (divide by E - 1); 0 when E = 1.
double importanceCVLoss(const Buffer &gates, const std::vector<int> &indices,
                        int pairs, int experts);

/// d importanceCVLoss / d gates [pairs]: every pair routed to expert e gets
/// dL/d importance_e = 2 (I_e - m) / ((E - 1)(m^2 + eps))
///                     - 2 m var / (E (m^2 + eps)^2)
/// (m the mean importance); pairs with index -1, and every pair when E = 1,
/// get exactly zero.
Buffer importanceCVLossBackward(const Buffer &gates,
                                const std::vector<int> &indices, int pairs,
                                int experts);

/// moa.mutual_information_loss: L = H(E|T) - H(E) = -MI(tokens; experts) of
/// the router logits [tokens, E], with p(e|t) = softmax(logits_t) and the
/// tokens uniform over the n not marked in padding:
///   H(E|T) = -(1/n) sum_t sum_e p(e|t) log p(e|t),
///   H(E)   = -sum_e p(e) log p(e),  p(e) = (1/n) sum_t p(e|t).
/// 0 when every token is padded (n = 0).
double mutualInformationLoss(const Buffer &logits, int tokens, int experts,
                             const Mask *padding);

/// d mutualInformationLoss / d logits [tokens, E]: with
/// g_e = dL/dp(e|t) = (log p(e) - log p(e|t)) / n, the softmax backward
/// p(e|t) (g_e - sum_e' p(e'|t) g_e') for each non-padded token; padded
/// tokens (and every token when all are padded) get exactly zero.
Buffer mutualInformationLossBackward(const Buffer &logits, int tokens,
                                     int experts, const Mask *padding);

//===----------------------------------------------------------------------===//
// Model ops around the sub-layer (forward and backward), as the compiler
// defines them.
//===----------------------------------------------------------------------===//

/// layer_norm over the last dimension of x [rows, d]:
/// y = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance
/// (divide by d); gamma and beta are [d].
Buffer layerNorm(const Buffer &x, const Buffer &gamma, const Buffer &beta,
                 int rows, int d, double eps);

/// Backward of layerNorm for dy [rows, d]: dx [rows, d], dGamma and dBeta [d]
/// (all overwritten).
void layerNormBackward(const Buffer &x, const Buffer &gamma, int rows, int d,
                       double eps, const Buffer &dy, Buffer &dx, Buffer &dGamma,
                       Buffer &dBeta);

/// embedding: out[r] = table[ids[r]] for ids [rows], table [vocab, d]. Every
/// id must lie in [0, vocab); the reference aborts otherwise (the compiler's
/// behaviour for other ids is not part of this contract).
Buffer embedding(const std::vector<int> &ids, const Buffer &table, int vocab,
                 int d);

/// Backward of embedding w.r.t. the table for dOut [rows, d]: the dOut rows
/// scatter-added into dTable [vocab, d] (repeated ids accumulate).
Buffer embeddingBackward(const std::vector<int> &ids, const Buffer &dOut,
                         int vocab, int d);

/// cross_entropy: the mean over the rows with targets[r] != -1 of
/// -log softmax(logits[r])[targets[r]] (logits [rows, vocab]); 0 if there is
/// no such row. Other targets must lie in [0, vocab) (aborts otherwise).
double crossEntropy(const Buffer &logits, const std::vector<int> &targets,
                    int rows, int vocab);

/// d crossEntropy / d logits [rows, vocab]: (softmax - one_hot(target)) / n
/// for the n counted rows, zero rows for targets of -1.
Buffer crossEntropyBackward(const Buffer &logits,
                            const std::vector<int> &targets, int rows,
                            int vocab);

} // namespace moa::reference

#endif // MOA_TEST_REFERENCE_MOAREFERENCEGRAD_H
