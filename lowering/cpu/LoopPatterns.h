//===- LoopPatterns.h - moa ops to loops on buffers, by family -*- C++ -*-===//
//
// moa-lower-to-loops gathers the patterns of each op family from its own
// file; the helpers here are what several families share.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_LOWERING_CPU_LOOPPATTERNS_H
#define MOA_LOWERING_CPU_LOOPPATTERNS_H

#include "dialect/MoAOps.h"
#include "lowering/common/OperandRows.h"

namespace mlir::moa::loops {

/// moa.route, moa.dispatch, moa.grouped_matmul, moa.multi_query_attention
/// and row-projection linalg.contract ops (Primitives.cpp).
void populatePrimitiveLoopPatterns(RewritePatternSet &patterns);
/// The auxiliary losses and their gradients (AuxLosses.cpp).
void populateAuxLossLoopPatterns(RewritePatternSet &patterns);
/// The backward ops of the primitives and weight-gradient contractions
/// (BackwardOps.cpp).
void populateBackwardLoopPatterns(RewritePatternSet &patterns);
/// moa.layer_norm, moa.embedding, moa.cross_entropy and their gradients
/// (ModelOps.cpp).
void populateModelOpLoopPatterns(RewritePatternSet &patterns);
/// moa.global_norm and moa.adamw (Optimizer.cpp).
void populateOptimizerLoopPatterns(RewritePatternSet &patterns);
/// moa.cache_write and moa.cached_attention (DecodeOps.cpp).
void populateDecodeLoopPatterns(RewritePatternSet &patterns);
/// cf.assert as an error the runtime reports (Assertions.cpp).
void populateAssertLoopPatterns(RewritePatternSet &patterns);

/// Rows per parallel chunk for row-wise kernels (layer norm, losses).
constexpr int64_t kRowChunk = 64;

/// Collapses all dimensions of `buffer` but the last into one: [rows, d].
Value asRows(TensorBoundary &tb, Value buffer);
/// All dimensions of `buffer` as one (a 0-d buffer becomes [1]).
Value flatten(TensorBoundary &tb, Value buffer);
/// The product of the sizes of `tensor`.
Value numElements(TensorBoundary &tb, Value tensor);
/// A fresh f32 buffer shaped like `tensor`.
Value allocLike(TensorBoundary &tb, Value tensor);
/// Whether a GEMM of `a` and `w` runs on bf16 operands (moa_rt_bf16_gemm:
/// the CPU's AVX512-BF16 kernels where it has them) rather than widened.
bool isBf16Product(Value a, Value w);
/// The bf16 weight buffer w ([K, N] or [E, K, N]) as moa_rt_bf16_gemm reads
/// it (or its transpose, per expert, where `transposed`: a backward GEMM's
/// W^T), packed into an f32 buffer of the packed matrix's shape once per
/// call, in parallel over experts and ranges of rows.
Value packedBf16Weight(Emitter &e, ModuleOp module, Value w,
                       bool transposed = false);
/// factor * rows[b]^T (rows[b]^T without a factor) for each b of a [B, S,
/// h] buffer, as a new [B, h, S] one of its element type; in parallel over
/// blocks of S, whose rows of `rows` and columns of the result stay in
/// cache while they are transposed.
Value transposedPerBatch(Emitter &e, Value rows, Value batch, Value keys,
                         Value h, Value factor = {});
/// buffer[0 : count] = value, in parallel chunks (Emitter::parallelElements).
void fill(Emitter &e, Value buffer, Value count, Value value);
/// The 0-d f32 tensor `scalar` as an f32 value.
Value loadScalar(TensorBoundary &tb, Value scalar);
/// Maximum and sum of exp(v - maximum) of row `row` of a [rows, n] buffer.
std::pair<Value, Value> softmaxStats(Emitter &e, Value buffer, Value row,
                                     Value n);
/// Keys that (token, slot) rows [firstRow, firstRow + rows) of k slots may
/// see: all `keys`, or when causal those up to the last row's token.
Value visibleKeys(Emitter &e, Value firstRow, Value rows, Value k, Value keys,
                  bool causal);
/// True if index value `v` (i32 or index) lies in [lo, hi).
Value inRange(Emitter &e, Value v, Value lo, Value hi);
/// Whether every element of the flat index buffer `indices` ([count]) lies
/// in [lo, hi), checked serially.
Value indicesInRange(TensorBoundary &tb, Value indices, Value count, Value lo,
                     Value hi);
/// Runs `body` only if indicesInRange; reports `code` otherwise.
void guardIndices(TensorBoundary &tb, Value indices, Value count, Value lo,
                  Value hi, function_ref<void(Emitter &)> body,
                  FailureCode code = FailureCode::IndexOutOfRange);
/// Reports ExpertIndexOutOfRange unless every routing index in `indices`
/// ([count]) is an expert or -1 (an unrouted slot); the code after must
/// still skip the bad ones.
void checkExpertIndices(TensorBoundary &tb, Value indices, Value count,
                        Value experts);

/// moa.route_grad's operands as [tokens, *] buffers and the logits'
/// gradient of one token: shared by the CPU loops (a parallel loop over
/// tokens) and the GPU kernel (a thread per token).
struct RouteGradRows {
  /// Checks the sizes (`tokens` is 0 if they disagree) and views the
  /// operands; dLogits is the caller's [tokens, E] result.
  RouteGradRows(TensorBoundary &tb, RouteGradOp op, Value &tokens);
  /// Writes row t of dLogits (zeros for a token with an unrouted slot).
  void token(Emitter &p, Value t) const;

  Value logits, indices, dGates, dLogits, k, experts;
  bool topkSoftmax, renormalize;
};

/// What the attention forward and backward tiles share: the key and value
/// (buffers [B, S, h]: f32, or a bf16 key for the forward's bf16 scores), the
/// optional key padding mask, k, h, the scale and causality, and the size
/// checks of those operands against the query.
struct AttentionOperands {
  AttentionOperands(TensorBoundary &tb, Value keyTensor, Value valueTensor,
                    Value maskTensor, Value k, Value h,
                    std::optional<APFloat> scale, bool causal);
  /// key, value (and mask) against batch B, S = keys and h.
  static void checkSizes(TensorBoundary &tb, Value keyTensor, Value valueTensor,
                         Value maskTensor, Value batch, Value keys, Value h,
                         SmallVectorImpl<std::pair<Value, Value>> &sizes);

  /// scale * key^T and value^T as new [B, h, S] buffers, so that the GEMMs
  /// against them read their B operand in place (sgemm copies a transposed
  /// or scaled B on every call, and each tile would copy the same blocks).
  Value scaledKeysTransposed(Emitter &e, Value batch, Value keys) const;
  Value valuesTransposed(Emitter &e, Value batch, Value keys) const;

  ModuleOp module;
  Value key, value, mask;
  Value keys; // S, set by the lowering
  Value k, h, scale;
  bool causal;
};

/// The attention scale: `scale` if given, else h^-0.5 (h an index).
Value attentionScale(Emitter &e, std::optional<APFloat> scale, Value h);
/// How many keys of the block [first, first + count) query row r of a tile
/// (starting at flat row `firstRow`, k rows per token) may see: up to its
/// token with `causal`, and never beyond `visibleKeys`.
Value visibleInBlock(Emitter &y, Value r, Value firstRow, Value k, bool causal,
                     Value visibleKeys, Value first, Value count);

} // namespace mlir::moa::loops

#endif // MOA_LOWERING_CPU_LOOPPATTERNS_H
