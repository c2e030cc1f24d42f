//===- MoATrainingOps.td - moa ops for training ------------*- tablegen -*-===//
//
// The backward ops of the moa primitives (emitted by moa-generate-gradients),
// the few model ops MLIR has no upstream op for (layer norm, embedding
// lookup, cross-entropy) with their backward ops, and the optimizer.
// Backward ops recompute what they need from the forward operands (router
// softmax, attention scores) rather than storing it.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_DIALECT_MOATRAININGOPS_TD
#define MOA_DIALECT_MOATRAININGOPS_TD

/// A 0-d f32 tensor or memref; formats leave its type out and take it from
/// another operand's form (custom<ScalarF32Like>, dialect/MoAOps.cpp).
def MoA_ScalarF32 : AnyTypeOf<[0DTensorOf<[F32]>, MemRefRankOf<[F32], [0]>],
                               "0-d tensor or memref of f32",
                               "::mlir::ShapedType">;

//===----------------------------------------------------------------------===//
// Backward of the moa primitives
//===----------------------------------------------------------------------===//

def MoA_RouteGradOp : MoA_BufferizableOp<"route_grad", [
    AllTypesMatch<["logits", "logits_grad"]>]> {
  let summary = "gradient of moa.route's gates with respect to the logits";
  let description = [{
    Given the router `logits` [B, T, E] (f32), the `indices` [B, T, k] that
    `moa.route` selected from them (taken as constants: no gradient flows
    through the choice) and the gradient `gates_grad` [B, T, k] of its gates,
    returns the gradient of the logits. The gates are recomputed from the
    logits with the same `gating` and `renormalize` as the forward op: with
    `softmax_topk` the gradient flows through the softmax over all E, with
    `topk_softmax` through the softmax over the k selected logits. Pairs with
    index -1 (padded tokens) have constant zero gates and contribute nothing.

    ```mlir
    %dl = moa.route_grad %logits, %idx, %dgates
        : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
    ```
  }];
  let arguments = (ins
    MoA_F32Shaped:$logits,
    MoA_IndexShaped:$indices,
    MoA_F32Shaped:$gates_grad,
    DefaultValuedAttr<MoA_GatingAttr, "::mlir::moa::Gating::SoftmaxTopK">:$gating,
    UnitAttr:$renormalize
  );
  let results = (outs MoA_F32Shaped:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $indices `,` $gates_grad attr-dict `:` type($logits) `,`
    type($indices) `,` type($gates_grad)
  }];
  let hasVerifier = 1;
}

def MoA_GroupedMatmulGradOp : MoA_BufferizableOp<"grouped_matmul_grad", [
    AllTypesMatch<["input", "input_grad"]>,
    AllTypesMatch<["weight", "weight_grad"]>]> {
  let summary = "gradients of moa.grouped_matmul";
  let description = [{
    For a `moa.grouped_matmul` with the same operands and the gradient
    `result_grad` of its result, returns the gradients of `input`, of
    `weight` and, in the combine form (with `gates`), of the gates as one
    more result. Over the expert-grouped rows of expert e:
    `weight_grad[e] = sum_p row(p)^T (g_p * result_grad row of p)` (g_p = 1
    without gates), `input_grad` gets `g_p * (result_grad row) weight[e]^T`
    for every pair (summed over the k slots of a token when the input has
    one row per token) and `gates_grad[p] = <row(p) weight[e], result_grad
    row>`. Pairs that were not dispatched get zero gradients. Accumulation
    is in f32.

    ```mlir
    %dx, %dw, %dg = moa.grouped_matmul_grad %a, %wo, %perm, %offsets, %dy
        gates(%g : tensor<?x?x2xf32>)
        : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>,
          tensor<9xi32>, tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins
    MoA_FloatShaped:$input,
    MoA_FloatShaped:$weight,
    MoA_IndexShaped:$permutation,
    MoA_IndexShaped:$offsets,
    MoA_FloatShaped:$result_grad,
    Optional<MoA_F32Shaped>:$gates
  );
  let results = (outs MoA_FloatShaped:$input_grad, MoA_FloatShaped:$weight_grad,
                      Variadic<MoA_F32Shaped>:$gates_grad);
  let assemblyFormat = [{
    $input `,` $weight `,` $permutation `,` $offsets `,` $result_grad
    (`gates` `(` $gates^ `:` type($gates) `)`)?
    attr-dict `:` type($input) `,` type($weight) `,` type($permutation) `,`
    type($offsets) `,` type($result_grad) (`->` type($gates_grad)^)?
  }];
  let hasVerifier = 1;
}

def MoA_MultiQueryAttentionGradOp : MoA_BufferizableOp<"multi_query_attention_grad", [
    AttrSizedOperandSegments,
    AllTypesMatch<["query", "result", "result_grad", "query_grad"]>,
    AllTypesMatch<["key", "key_grad"]>,
    AllTypesMatch<["value", "value_grad"]>]> {
  let summary = "gradients of moa.multi_query_attention";
  let description = [{
    Given the operands of a `moa.multi_query_attention`, its `result` and the
    gradient `result_grad`, returns the gradients of query, key and value.
    Flash-style: the scores are recomputed block by block from the query and
    key (never stored), the key and value gradients accumulate over all k
    slots of every query. Rows with no visible key get zero gradients.
    `lse` [B, T, k], the forward's row log-sum-exp (its `with_lse` result),
    saves the backward its first pass over the keys; without it the
    backward computes it.

    ```mlir
    %dq, %dk, %dv = moa.multi_query_attention_grad %q, %key, %value, %o, %do {causal}
        : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
    %dq2, %dk2, %dv2 = moa.multi_query_attention_grad %q, %key, %value, %o, %do
        lse(%lse : tensor<?x?x2xf32>)
        : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins
    MoA_FloatShaped:$query,
    MoA_FloatShaped:$key,
    MoA_FloatShaped:$value,
    MoA_FloatShaped:$result,
    MoA_FloatShaped:$result_grad,
    Optional<MoA_MaskShaped>:$key_padding_mask,
    Optional<MoA_F32Shaped>:$lse,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs MoA_FloatShaped:$query_grad, MoA_FloatShaped:$key_grad,
                      MoA_FloatShaped:$value_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $result `,` $result_grad
    (`key_padding_mask` `(` $key_padding_mask^ `:` type($key_padding_mask) `)`)?
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
  }];
  let hasVerifier = 1;
}

def MoA_LoadBalancingLossGradOp : MoA_BufferizableOp<"load_balancing_loss_grad", [
    AllTypesMatch<["logits", "logits_grad"]>, AttrSizedOperandSegments]> {
  let summary = "gradient of moa.load_balancing_loss with respect to the logits";
  let description = [{
    `loss_grad` (0-d f32) times the derivative of the load-balancing loss
    with respect to the router logits; the counts c_e are constants (they
    come from the top-k choice). Padded tokens get zero. With `statistics`
    (as `moa.load_balancing_loss`), the derivative of the loss of the
    larger batch they describe with respect to this batch's logits.

    ```mlir
    %dl = moa.load_balancing_loss_grad %logits, %idx, %dloss
        : tensor<?x?x8xf32>, tensor<?x?x2xi32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$logits, MoA_IndexShaped:$indices,
                       MoA_ScalarF32:$loss_grad,
                       Optional<MoA_MaskShaped>:$query_padding_mask,
                       Optional<MoA_F32Shaped>:$statistics);
  let results = (outs MoA_F32Shaped:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $indices `,` $loss_grad
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    (`statistics` `(` $statistics^ `:` type($statistics) `)`)?
    attr-dict `:` type($logits) `,` type($indices)
    custom<ScalarF32Like>(type($loss_grad), ref(type($logits)))
  }];
  let hasVerifier = 1;
}

def MoA_RouterZLossGradOp : MoA_BufferizableOp<"router_z_loss_grad", [
    AllTypesMatch<["logits", "logits_grad"]>]> {
  let summary = "gradient of moa.router_z_loss with respect to the logits";
  let description = [{
    `loss_grad` (0-d f32) times `2 lse_t softmax(logits_t) / N` for each of
    the N tokens not marked in `query_padding_mask`; padded tokens get zero.

    ```mlir
    %dl = moa.router_z_loss_grad %logits, %dloss : tensor<?x?x8xf32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$logits, MoA_ScalarF32:$loss_grad,
                       Optional<MoA_MaskShaped>:$query_padding_mask);
  let results = (outs MoA_F32Shaped:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $loss_grad
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits)
    custom<ScalarF32Like>(type($loss_grad), ref(type($logits)))
  }];
  let hasVerifier = 1;
}

def MoA_MutualInformationLossGradOp : MoA_BufferizableOp<"mutual_information_loss_grad", [
    AllTypesMatch<["logits", "logits_grad"]>]> {
  let summary = "gradient of moa.mutual_information_loss with respect to the logits";
  let description = [{
    `loss_grad` (0-d f32) times `p(e|t) (g_e - sum_e' p(e'|t) g_e')` with
    `g_e = (log p(e) - log p(e|t)) / N` for each of the N tokens not marked
    in `query_padding_mask`; padded tokens get zero.

    ```mlir
    %dl = moa.mutual_information_loss_grad %logits, %dloss : tensor<?x?x8xf32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$logits, MoA_ScalarF32:$loss_grad,
                       Optional<MoA_MaskShaped>:$query_padding_mask);
  let results = (outs MoA_F32Shaped:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $loss_grad
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits)
    custom<ScalarF32Like>(type($loss_grad), ref(type($logits)))
  }];
  let hasVerifier = 1;
}

def MoA_ImportanceCVLossGradOp : MoA_BufferizableOp<"importance_cv_loss_grad", [
    AllTypesMatch<["gates", "gates_grad"]>]> {
  let summary = "gradient of moa.importance_cv_loss with respect to the gates";
  let description = [{
    `loss_grad` (0-d f32) times the derivative of the importance CV^2 loss
    with respect to each gate; pairs with index -1 get zero.

    ```mlir
    %dg = moa.importance_cv_loss_grad %gates, %idx, %dloss experts(8)
        : tensor<?x?x2xf32>, tensor<?x?x2xi32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$gates, MoA_IndexShaped:$indices,
                       MoA_ScalarF32:$loss_grad, MoA_TopKAttr:$num_experts);
  let results = (outs MoA_F32Shaped:$gates_grad);
  let assemblyFormat = [{
    $gates `,` $indices `,` $loss_grad `experts` `(` $num_experts `)`
    attr-dict `:` type($gates) `,` type($indices)
    custom<ScalarF32Like>(type($loss_grad), ref(type($gates)))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Model ops without an upstream equivalent
//===----------------------------------------------------------------------===//

def MoA_LayerNormOp : MoA_BufferizableOp<"layer_norm", [
    AllTypesMatch<["input", "result"]>,
    AllTypesMatch<["gamma", "beta"]>,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "layer normalisation over the last dimension";
  let description = [{
    `result = (input - mean) / sqrt(var + epsilon) * gamma + beta` over the
    last dimension d of `input` [..., d] (biased variance, statistics in
    f32), with `gamma` and `beta` [d].

    ```mlir
    %y = moa.layer_norm %x, %gamma, %beta : tensor<?x?x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$input, MoA_F32Shaped:$gamma,
                       MoA_F32Shaped:$beta,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs MoA_F32Shaped:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta attr-dict `:` type($input) `,` type($gamma)
  }];
  let hasVerifier = 1;
}

def MoA_LayerNormGradOp : MoA_BufferizableOp<"layer_norm_grad", [
    AllTypesMatch<["input", "result_grad", "input_grad"]>,
    AllTypesMatch<["gamma", "gamma_grad", "beta_grad"]>]> {
  let summary = "gradients of moa.layer_norm";
  let description = [{
    Gradients of `input`, `gamma` and `beta` of a `moa.layer_norm` with the
    same operands and `epsilon`, given the gradient of its result (the row
    statistics are recomputed).

    ```mlir
    %dx, %dgamma, %dbeta = moa.layer_norm_grad %x, %gamma, %dy
        : tensor<?x?x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$input, MoA_F32Shaped:$gamma,
                       MoA_F32Shaped:$result_grad,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs MoA_F32Shaped:$input_grad, MoA_F32Shaped:$gamma_grad,
                      MoA_F32Shaped:$beta_grad);
  let assemblyFormat = [{
    $input `,` $gamma `,` $result_grad attr-dict `:` type($input) `,`
    type($gamma)
  }];
  let hasVerifier = 1;
}

def MoA_EmbeddingOp : MoA_BufferizableOp<"embedding", [
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "embedding lookup";
  let description = [{
    `result[b, t] = table[indices[b, t]]` for `indices` [B, T] (i32) and
    `table` [V, d]. An index outside [0, V) is reported at run time.

    ```mlir
    %x = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<64x256xf32> -> tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins MoA_IndexShaped:$indices, MoA_F32Shaped:$table);
  let results = (outs MoA_F32Shaped:$result);
  let assemblyFormat = [{
    $indices `,` $table attr-dict `:` type($indices) `,` type($table) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def MoA_EmbeddingGradOp : MoA_BufferizableOp<"embedding_grad", [
    AllTypesMatch<["table", "table_grad"]>]> {
  let summary = "gradient of moa.embedding with respect to the table";
  let description = [{
    `table_grad[v] = sum of result_grad[b, t] over the (b, t) with
    indices[b, t] = v`; `table` gives the shape only.

    ```mlir
    %dt = moa.embedding_grad %ids, %table, %dx
        : tensor<?x?xi32>, tensor<64x256xf32>, tensor<?x?x256xf32>
    ```
  }];
  let arguments = (ins MoA_IndexShaped:$indices, MoA_F32Shaped:$table,
                       MoA_F32Shaped:$result_grad);
  let results = (outs MoA_F32Shaped:$table_grad);
  let assemblyFormat = [{
    $indices `,` $table `,` $result_grad attr-dict `:` type($indices) `,`
    type($table) `,` type($result_grad)
  }];
  let hasVerifier = 1;
}

def MoA_CrossEntropyOp : MoA_BufferizableOp<"cross_entropy", [InferTypeOpAdaptor,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "mean softmax cross-entropy over the labelled tokens";
  let description = [{
    `loss = mean over (b, t) with targets[b, t] != -1 of
    -log softmax(logits[b, t])[targets[b, t]]` for `logits` [B, T, V] (f32)
    and `targets` [B, T] (i32; -1 is ignored, as PyTorch's
    `ignore_index=-1`). Zero if no token is labelled; a target outside
    [-1, V) is reported at run time.

    ```mlir
    %loss = moa.cross_entropy %logits, %targets : tensor<?x?x64xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$logits, MoA_IndexShaped:$targets);
  let results = (outs MoA_ScalarF32Shaped:$loss);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets)
  }];
  let hasVerifier = 1;
}

def MoA_CrossEntropyGradOp : MoA_BufferizableOp<"cross_entropy_grad", [
    AllTypesMatch<["logits", "logits_grad"]>]> {
  let summary = "gradient of moa.cross_entropy with respect to the logits";
  let description = [{
    `loss_grad * (softmax(logits[b, t]) - onehot(targets[b, t])) / N` for
    the N labelled tokens, zero for the others.

    ```mlir
    %dl = moa.cross_entropy_grad %logits, %targets, %dloss
        : tensor<?x?x64xf32>, tensor<?x?xi32>
    ```
  }];
  let arguments = (ins MoA_F32Shaped:$logits, MoA_IndexShaped:$targets,
                       MoA_ScalarF32:$loss_grad);
  let results = (outs MoA_F32Shaped:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $targets `,` $loss_grad attr-dict `:` type($logits) `,`
    type($targets) custom<ScalarF32Like>(type($loss_grad), ref(type($logits)))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

def MoA_GlobalNormOp : MoA_BufferizableOp<"global_norm", [InferTypeOpAdaptor]> {
  let summary = "L2 norm over all elements of several tensors";
  let description = [{
    `sqrt(sum over all tensors and elements of x^2)`, accumulated in f64: the
    norm that gradient clipping compares against its threshold.

    ```mlir
    %n = moa.global_norm %g0, %g1 : tensor<8x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Variadic<MoA_F32Shaped>:$inputs);
  let results = (outs MoA_ScalarF32Shaped:$norm);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
  let hasVerifier = 1;
}

def MoA_AdamWOp : MoA_Op<"adamw", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>,
    NativeOpTrait<"moa::OneShapedForm">,
    AllTypesMatch<["param", "grad", "first_moment", "second_moment"]>]> {
  let summary = "one AdamW update of a parameter";
  let description = [{
    One step of AdamW (Loshchilov and Hutter, as `torch.optim.AdamW`) for
    step number `step` (0-d f32, counting from 1). The gradient is first
    clipped by global norm: multiplied by `min(1, max_grad_norm / (grad_norm
    + 1e-6))` when `max_grad_norm > 0` (`grad_norm` from `moa.global_norm`
    over all gradients, as `torch.nn.utils.clip_grad_norm_`). The learning
    rate follows the inverse square-root schedule with linear warm-up when
    `warmup_steps > 0`: `lr * min(step / warmup, sqrt(warmup / step))`
    (fairseq's `inverse_sqrt`), else it is constant. Then
    `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2) g^2`,
    `param = param (1 - lr weight_decay) - lr m_hat / (sqrt(v_hat) + epsilon)`
    with the bias-corrected moments. Defaults are the official MoA betas
    (0.9, 0.98).

    In place, like a destination-style op: on tensors the results are the
    new parameter and moments, and One-Shot Bufferize writes them into the
    buffers of `param`, `first_moment` and `second_moment` (copying one
    first only where its old value is still read afterwards); on memrefs
    the op has no results and updates those three buffers. A training step
    thus holds one copy of the model and its moments.

    ```mlir
    %p1, %m1, %v1 = moa.adamw %p, %g, %m, %v step(%step) norm(%n)
        {lr = 1.0e-3 : f32} : tensor<8x64xf32>
    ```
  }];
  let arguments = (ins
    MoA_F32Shaped:$param,
    MoA_F32Shaped:$grad,
    MoA_F32Shaped:$first_moment,
    MoA_F32Shaped:$second_moment,
    MoA_ScalarF32:$step,
    MoA_ScalarF32:$grad_norm,
    F32Attr:$lr,
    DefaultValuedAttr<F32Attr, "0.9">:$beta1,
    DefaultValuedAttr<F32Attr, "0.98">:$beta2,
    DefaultValuedAttr<F32Attr, "1.0e-8">:$epsilon,
    DefaultValuedAttr<F32Attr, "0.0">:$weight_decay,
    DefaultValuedAttr<I64Attr, "0">:$warmup_steps,
    DefaultValuedAttr<F32Attr, "0.0">:$max_grad_norm
  );
  // new_param, new_first_moment, new_second_moment on tensors; none on
  // memrefs.
  let results = (outs Variadic<MoA_F32Tensor>:$updated);
  let assemblyFormat = [{
    $param `,` $grad `,` $first_moment `,` $second_moment
    `step` `(` $step `)` `norm` `(` $grad_norm `)` attr-dict `:` type($param)
    custom<ScalarF32Like>(type($step), ref(type($param)))
    custom<ScalarF32Like>(type($grad_norm), ref(type($param)))
    custom<UpdatedLike>(type($updated), ref(type($param)))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The buffers the op updates (param, first and second moment), in
    /// the order of its results on tensors.
    ::llvm::SmallVector<::mlir::OpOperand *, 3> getUpdatedOperands() {
      return {&getParamMutable(), &getFirstMomentMutable(),
              &getSecondMomentMutable()};
    }
  }];
}

#endif // MOA_DIALECT_MOATRAININGOPS_TD
