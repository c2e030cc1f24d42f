//===- Passes.h - moa passes ------------------------------------*- C++ -*-===//

#ifndef MOA_PASSES_PASSES_H
#define MOA_PASSES_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moa {

class MixtureAttentionOp;

/// What a moa.mixture_attention decomposes into: its two results.
struct DecomposedLayer {
  Value y, routerLogits;
};

/// Builds the attention core of a decomposed layer from query [B, T, k, h]
/// and the shared key and value [B, S, h]; returns [B, T, k, h].
using AttentionCoreBuilder = function_ref<Value(
    OpBuilder &, Location, Value query, Value key, Value value)>;

/// Emits the decomposition of `op` at the builder's insertion point (the
/// rewrite of moa-decompose) without replacing `op`; `core`, if given,
/// builds the attention instead of moa.multi_query_attention with `op`'s
/// mask, causality and scale. Fails if the number of experts is dynamic.
FailureOr<DecomposedLayer>
emitDecomposedLayer(OpBuilder &builder, MixtureAttentionOp op,
                    AttentionCoreBuilder core = nullptr);

/// Decomposes every moa.mixture_attention and moa.multi_head_attention under
/// `root` into moa primitives (the rewrite of moa-decompose); fails with a
/// diagnostic if one cannot be.
LogicalResult decomposeAttentionLayers(Operation *root);

/// Attaches GradientOpInterface to the upstream ops moa differentiates
/// (GradientModels.cpp); moa-generate-gradients needs them.
void registerGradientExternalModels(DialectRegistry &registry);

/// Pass::initializeOptions for moa's passes with options: when `options` do
/// not parse, the message names the pass and lists its options with their
/// defaults (what `--moa-cost=outptu=x` needs to hear). Their
/// initializeOptions overrides call this.
LogicalResult initializeOptionsExplained(
    Pass &pass, StringRef options,
    function_ref<LogicalResult(const Twine &)> errorHandler);

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::moa

#endif // MOA_PASSES_PASSES_H
