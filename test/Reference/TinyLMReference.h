//===- TinyLMReference.h - Reference of examples/tiny_lm.mlir ---*- C++ -*-===//
//
// The example model's training loss (examples/tiny_lm.mlir) in double
// precision, composed from the reference functions of MoAReference.h and
// MoAReferenceGrad.h, and its gradient w.r.t. all 16 parameters composed from
// their backward counterparts. Written from the model text and the reference
// alone (nothing of the lowering or the passes), so that the compiled
// @loss_grad can be compared with something derived independently.
//
// The model, per token row r of the B*T rows:
//   x0 = tok_emb[tokens] + pos_emb[positions]
//   h1 = layer_norm(x0; ln1_g, ln1_b)
//   (attn, router_logits) = mixture_attention(h1; causal, k = 2, official
//                           gating: softmax over E, then top-k), self-attention
//   x1 = x0 + attn
//   h2 = layer_norm(x1; ln2_g, ln2_b)
//   x2 = x1 + relu(h2 W_ff1) W_ff2
//   logits = layer_norm(x2; lnf_g, lnf_b) W_vocab
//   ce = cross_entropy(logits, targets)   (targets of -1 ignored)
//   idx = route(router_logits) top-2
//   lb = load_balancing_loss(router_logits, idx), z = router_z_loss(...)
//   loss = ce + 0.01 lb + 0.001 z
// with every layer_norm at epsilon 1e-5.
//
// In mixed precision (TinyLMConfig::rounding) the FFN's and the output
// projection's operands and results, and the gradients their backward reads
// and writes, are rounded to bf16 as in the layer (MoAReferenceGrad.cpp);
// row-projection weight gradients are not.
//
// The backward has the conventions of MoAReferenceGrad.h: no gradient through
// the top-k indices (the routing the forward chose is held fixed), and the
// ReLU's derivative is 1 where its input is > 0 and 0 elsewhere.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_REFERENCE_TINYLMREFERENCE_H
#define MOA_TEST_REFERENCE_TINYLMREFERENCE_H

#include "MoAReference.h"

#include <array>
#include <vector>

namespace moa::reference {

/// The sizes and constants of examples/tiny_lm.mlir.
struct TinyLMConfig {
  int vocab = 64;        // rows of tok_emb, columns of W_vocab
  int maxPositions = 64; // rows of pos_emb
  int d = 32, experts = 4, k = 2, h = 16;
  int ffn = 64; // hidden width of the ReLU FFN
  double epsilon = 1e-5;
  double lbWeight = 0.01, zWeight = 0.001;
  /// bf16: the model in mixed precision (moa-generate-gradients
  /// mixed-precision=bf16): the GEMMs and the attention read and write
  /// bf16, the rest stays f32; see Rounding.
  Rounding rounding;
};

/// The 16 parameters (or their gradients), in the argument order of @loss.
struct TinyLMParameters {
  static constexpr int kCount = 16;
  Buffer tokEmb;     // [vocab, d]
  Buffer posEmb;     // [maxPositions, d]
  Buffer ln1G, ln1B; // [d]
  Buffer wGate;      // [d, E]
  Buffer wQuery;     // [E, d, h]
  Buffer wKey;       // [d, h]
  Buffer wValue;     // [d, h]
  Buffer wOut;       // [E, h, d]
  Buffer ln2G, ln2B; // [d]
  Buffer wFf1;       // [d, ffn]
  Buffer wFf2;       // [ffn, d]
  Buffer lnfG, lnfB; // [d]
  Buffer wVocab;     // [d, vocab]

  /// The tensors in argument order.
  std::array<Buffer *, kCount> list();
  std::array<const Buffer *, kCount> list() const;
  /// The moa.param names, in argument order.
  static const std::array<const char *, kCount> &names();
  /// The shapes of `config`, in argument order.
  static std::array<std::vector<int>, kCount>
  shapes(const TinyLMConfig &config);
};

/// The data arguments: tokens, positions and targets, each [B, T] row-major.
/// tokens in [0, vocab), positions in [0, maxPositions), targets in
/// [0, vocab) or -1 (ignored); the reference aborts on other values.
struct TinyLMData {
  int batch = 0, length = 0;
  std::vector<int> tokens, positions, targets;
};

/// The results of @loss and the intermediates a caller may want to inspect.
struct TinyLMOutputs {
  double loss = 0, ce = 0, lb = 0, z = 0;
  Buffer logits;       // [B, T, vocab]
  Buffer routerLogits; // [B, T, E]
  Routing routing;     // the top-k choice of every token
  Buffer ffnPre;       // [B, T, ffn]: h2 W_ff1, the ReLU's input
};

TinyLMOutputs tinyLMForward(const TinyLMConfig &config,
                            const TinyLMParameters &params,
                            const TinyLMData &data);

/// d loss / d every parameter (what @loss_grad returns for the seeds 1 on
/// loss and 0 on ce, lb, z and logits). `forward`, if not null, receives the
/// forward results.
TinyLMParameters tinyLMBackward(const TinyLMConfig &config,
                                const TinyLMParameters &params,
                                const TinyLMData &data,
                                TinyLMOutputs *forward = nullptr);

} // namespace moa::reference

#endif // MOA_TEST_REFERENCE_TINYLMREFERENCE_H
