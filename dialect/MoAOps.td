//===- MoAOps.td - moa dialect ops -------------------------*- tablegen -*-===//

#ifndef MOA_DIALECT_MOAOPS_TD
#define MOA_DIALECT_MOAOPS_TD

include "dialect/MoABase.td"
include "dialect/MoAInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// moa.mixture_attention
//===----------------------------------------------------------------------===//

def MoA_MixtureAttentionOp : MoA_Op<"mixture_attention", [
    Pure, AttrSizedOperandSegments, InferTypeOpAdaptor,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "a Mixture of Attention Heads sub-layer";
  let description = [{
    One MoA attention sub-layer. For every query token `x[b, t]` the router
    computes `logits = x W_g` (in f32), picks `k` of `E` experts, and the
    result is the gate-weighted sum over the selected experts `e` of
    `softmax(scale * (x W_q[e]) K^T + mask) V W_o[e]`, where `K = M W_k` and
    `V = M W_v` are shared by all experts and `M` is `memory` (cross-attention)
    or `x` itself (self-attention).

    Shapes: `x` [B, T, d], `memory` [B, S, d], `w_gate` [d, E],
    `w_query` [E, d, h], `w_key` and `w_value` [d, h], `w_out` [E, h, d],
    `key_padding_mask` [B, S] and `query_padding_mask` [B, T] (i1, `true`
    marks padding, as in PyTorch). Results: `y` [B, T, d] with the element
    type of `x`, and the router logits [B, T, E] in f32 for the auxiliary
    losses.

    Attributes: `k` (1 <= k <= E), `gating` (`softmax_topk`, the official
    convention and default, or `topk_softmax`), `renormalize` (divide the k
    gates by their sum), `causal` (query t sees keys s <= t) and `scale`
    (default h^-0.5). A padded query gets all gates 0 and a zero output row; a
    query whose keys are all masked attends to nothing and contributes zero.

    Example:

    ```mlir
    %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
        {causal}
        : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>,
          tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
    ```
  }];

  let arguments = (ins
    MoA_FloatTensor:$x,
    MoA_FloatTensor:$w_gate,
    MoA_FloatTensor:$w_query,
    MoA_FloatTensor:$w_key,
    MoA_FloatTensor:$w_value,
    MoA_FloatTensor:$w_out,
    Optional<MoA_FloatTensor>:$memory,
    Optional<MoA_MaskTensor>:$key_padding_mask,
    Optional<MoA_MaskTensor>:$query_padding_mask,
    MoA_TopKAttr:$k,
    DefaultValuedAttr<MoA_GatingAttr, "::mlir::moa::Gating::SoftmaxTopK">:$gating,
    UnitAttr:$renormalize,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs MoA_FloatTensor:$y, MoA_F32Tensor:$router_logits);

  let assemblyFormat = [{
    $x `,` $w_gate `,` $w_query `,` $w_key `,` $w_value `,` $w_out `k` `(` $k `)`
    (`memory` `(` $memory^ `:` type($memory) `)`)?
    (`key_padding_mask` `(` $key_padding_mask^ `:` type($key_padding_mask) `)`)?
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($x) `,` type($w_gate) `,` type($w_query) `,`
    type($w_key) `,` type($w_value) `,` type($w_out)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.multi_head_attention
//===----------------------------------------------------------------------===//

def MoA_MultiHeadAttentionOp : MoA_Op<"multi_head_attention", [
    Pure, AttrSizedOperandSegments, InferTypeOpAdaptor,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>]> {
  let summary = "dense multi-head attention, the baseline MoA is measured against";
  let description = [{
    Ordinary multi-head attention (Vaswani et al.) with `H` heads of width
    `h`: every head has its own query, key, value and output projection and
    every token uses all heads,
    `y = sum_i softmax(scale * (x W_q[:, i]) (M W_k[:, i])^T + mask)
    (M W_v[:, i]) W_o[i]`, where `M` is `memory` (cross-attention) or `x`.

    Shapes: `x` [B, T, d], `memory` [B, S, d], `w_query`, `w_key` and
    `w_value` [d, H, h], `w_out` [H, h, d], `key_padding_mask` [B, S] (i1,
    `true` marks padding). Result: `y` [B, T, d] with the element type of
    `x`. Attributes: `causal` (query t sees keys s <= t) and `scale`
    (default h^-0.5). A query whose keys are all masked contributes zero.
    It costs `4 d H h` multiply-accumulates per token (4 d^2 when H h = d)
    and `2 H h` per (query, key) pair, as moa-spec.md counts.

    moa-decompose turns it into row projections, the heads folded into the
    batch, and `moa.multi_query_attention` with one query slot per head, so
    it runs on the kernels (and gradients) of the MoA layer.

    ```mlir
    %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo {causal}
        : tensor<?x?x256xf32>, tensor<256x4x64xf32>, tensor<256x4x64xf32>,
          tensor<256x4x64xf32>, tensor<4x64x256xf32>
    ```
  }];

  let arguments = (ins
    MoA_FloatTensor:$x,
    MoA_FloatTensor:$w_query,
    MoA_FloatTensor:$w_key,
    MoA_FloatTensor:$w_value,
    MoA_FloatTensor:$w_out,
    Optional<MoA_FloatTensor>:$memory,
    Optional<MoA_MaskTensor>:$key_padding_mask,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs MoA_FloatTensor:$y);

  let assemblyFormat = [{
    $x `,` $w_query `,` $w_key `,` $w_value `,` $w_out
    (`memory` `(` $memory^ `:` type($memory) `)`)?
    (`key_padding_mask` `(` $key_padding_mask^ `:` type($key_padding_mask) `)`)?
    attr-dict `:` type($x) `,` type($w_query) `,` type($w_key) `,`
    type($w_value) `,` type($w_out)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.route
//===----------------------------------------------------------------------===//

def MoA_RouteOp : MoA_BufferizableOp<"route", [
    InferTypeOpAdaptor, MoA_CostOpInterface,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "router: softmax and top-k over expert logits";
  let description = [{
    Turns router logits [B, T, E] (f32) into the `k` selected experts per
    token, `indices` [B, T, k] (i32, in descending order of probability), and
    their `gates` [B, T, k] (f32). With `gating = softmax_topk` (default) the
    gates are the softmax probabilities over all E experts, divided by their
    sum only if `renormalize` is set; with `topk_softmax` they are a softmax
    over the k selected logits. Ties go to the lower expert index. Tokens
    marked in `query_padding_mask` ([B, T], `true` = padding) get index -1
    (not dispatched) and gate 0 in every slot.

    ```mlir
    %idx, %gates = moa.route %logits k(2) : tensor<?x?x8xf32>
    ```
  }];

  let arguments = (ins
    MoA_F32Shaped:$logits,
    Optional<MoA_MaskShaped>:$query_padding_mask,
    MoA_TopKAttr:$k,
    DefaultValuedAttr<MoA_GatingAttr, "::mlir::moa::Gating::SoftmaxTopK">:$gating,
    UnitAttr:$renormalize
  );
  let results = (outs MoA_I32Shaped:$indices, MoA_F32Shaped:$gates);

  let assemblyFormat = [{
    $logits `k` `(` $k `)`
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.dispatch
//===----------------------------------------------------------------------===//

def MoA_DispatchOp : MoA_BufferizableOp<"dispatch", [
    InferTypeOpAdaptor, MoA_CostOpInterface]> {
  let summary = "group (token, slot) pairs by expert";
  let description = [{
    Sorts the B*T*k (token, slot) pairs of `indices` [B, T, k] by expert.
    `permutation` [B*T*k] lists flat pair ids `(b*T + t)*k + j` grouped by
    expert, in ascending pair order within an expert (a stable sort); pairs
    with a negative index (padded tokens) come last. `offsets` [E+1] holds
    the start of each expert's group: expert e owns
    `permutation[offsets[e] : offsets[e+1]]`, and `offsets[E]` is the number
    of dispatched pairs. Indices must lie in [-1, E).

    ```mlir
    %perm, %offsets = moa.dispatch %idx experts(8) : tensor<?x?x2xi32>
    ```
  }];

  let arguments = (ins MoA_IndexShaped:$indices, MoA_TopKAttr:$num_experts);
  let results = (outs MoA_I32Shaped:$permutation,
                      MoA_I32Shaped:$offsets);

  let assemblyFormat = [{
    $indices `experts` `(` $num_experts `)` attr-dict `:` type($indices)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.grouped_matmul
//===----------------------------------------------------------------------===//

def MoA_GroupedMatmulOp : MoA_BufferizableOp<"grouped_matmul", [
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "ragged per-expert matmul over expert-grouped rows";
  let description = [{
    For every dispatched (token, slot) pair p = (b, t, j) routed to expert e
    (from `permutation` and `offsets` of `moa.dispatch`), multiplies the
    pair's input row by `weight[e]` ([E, K, N]). The input row is gathered
    from `input`: [B, T, K] holds one row per token (shared by its k slots),
    [B, T, k, K] one row per pair.

    Without `gates` the product is scattered to the result [B, T, k, N] at
    the pair's position; rows of pairs that were not dispatched are zero.
    With `gates` [B, T, k] (f32) the k products of a token are combined:
    `result[b, t] = sum_j gates[b, t, j] * (row(b, t, j) weight[e_j])`, a
    result of shape [B, T, N]. Accumulation is in f32. The result type is
    written out (k may only be known from it); its B, T and N must be static
    exactly where the operands they come from are.

    ```mlir
    %q = moa.grouped_matmul %x, %wq, %perm, %offsets
        : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>,
           tensor<9xi32>) -> tensor<?x?x2x64xf32>
    %y = moa.grouped_matmul %attn, %wo, %perm, %offsets gates(%g : tensor<?x?x2xf32>)
        : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>,
           tensor<9xi32>) -> tensor<?x?x256xf32>
    ```
  }];

  let arguments = (ins
    MoA_FloatShaped:$input,
    MoA_FloatShaped:$weight,
    MoA_IndexShaped:$permutation,
    MoA_IndexShaped:$offsets,
    Optional<MoA_F32Shaped>:$gates
  );
  let results = (outs MoA_FloatShaped:$result);

  let assemblyFormat = [{
    $input `,` $weight `,` $permutation `,` $offsets
    (`gates` `(` $gates^ `:` type($gates) `)`)?
    attr-dict `:` `(` type($input) `,` type($weight) `,` type($permutation)
    `,` type($offsets) `)` `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.multi_query_attention
//===----------------------------------------------------------------------===//

def MoA_MultiQueryAttentionOp : MoA_BufferizableOp<"multi_query_attention", [
    InferTypeOpAdaptor,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "attention of k query slots per token over one shared K and V";
  let description = [{
    `result[b, t, j] = softmax_s(scale * query[b, t, j] . key[b, s] + mask) value[b, s]`
    for `query` [B, T, k, h], `key` and `value` [B, S, h]. `causal` masks
    keys s > t; `key_padding_mask` [B, S] (`true` = padding) masks padded
    keys. A row whose keys are all masked yields zeros, never NaN. `scale`
    defaults to h^-0.5. Softmax statistics are kept in f32.

    With `with_lse`, a second result `lse` [B, T, k] (f32) holds each row's
    log-sum-exp, `log sum_s exp(scale * query . key[s])` over its visible
    keys (-inf for a row that sees none): what
    `moa.multi_query_attention_grad` needs to rebuild the probabilities
    without a second pass over the keys (FlashAttention-2's backward; the
    gradient passes ask for it).

    ```mlir
    %o = moa.multi_query_attention %q, %key, %value {causal}
        : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
    %o2, %lse = moa.multi_query_attention %q, %key, %value {with_lse}
        : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
    ```
  }];

  let arguments = (ins
    MoA_FloatShaped:$query,
    MoA_FloatShaped:$key,
    MoA_FloatShaped:$value,
    Optional<MoA_MaskShaped>:$key_padding_mask,
    UnitAttr:$causal,
    OptionalAttr<F32Attr>:$scale,
    UnitAttr:$with_lse
  );
  let results = (outs MoA_FloatShaped:$result, Optional<MoA_F32Shaped>:$lse);

  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`key_padding_mask` `(` $key_padding_mask^ `:` type($key_padding_mask) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

def MoA_RoutingStatisticsOp : MoA_BufferizableOp<"routing_statistics", [
    InferTypeOpAdaptor, MoA_CostOpInterface]> {
  let summary = "what the load-balancing loss needs of a batch, summable";
  let description = [{
    The statistics of `moa.load_balancing_loss` over the tokens of one
    batch, as a [2, E] f32 tensor: row 0 holds `P_e`, the summed softmax
    probability of expert e, row 1 `c_e`, the number of (token, slot)
    pairs routed to e. Tokens marked in `query_padding_mask` count for
    nothing. The statistics of a batch split into parts are the sum of the
    parts' statistics: moa-data-parallel all-reduces them so that every rank
    computes the loss of the global batch.

    ```mlir
    %s = moa.routing_statistics %logits, %idx : tensor<?x?x8xf32>, tensor<?x?x2xi32>
    ```
  }];

  let arguments = (ins MoA_F32Shaped:$logits, MoA_IndexShaped:$indices,
                       Optional<MoA_MaskShaped>:$query_padding_mask);
  let results = (outs MoA_F32Shaped:$statistics);

  let assemblyFormat = [{
    $logits `,` $indices
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def MoA_LoadBalancingLossOp : MoA_BufferizableOp<"load_balancing_loss", [
    InferTypeOpAdaptor, MoA_CostOpInterface, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "switch-style load-balancing loss of a router";
  let description = [{
    `L = E * sum_e (P_e / sum P) * (c_e / sum c)` where `P_e` is the summed
    softmax probability of expert e over tokens and `c_e` the number of
    (token, slot) pairs routed to e by `indices` [B, T, k]. `logits` are the
    router logits [B, T, E] (f32). Tokens marked in `query_padding_mask`
    are excluded from P and c. Returns a 0-d f32 tensor (zero if every token
    is padded).

    With `statistics` [2, E] (see `moa.routing_statistics`), P and c are
    taken from it instead of from this batch: the loss of a larger batch
    this one is part of (moa-data-parallel's global batch).

    ```mlir
    %l = moa.load_balancing_loss %logits, %idx : tensor<?x?x8xf32>, tensor<?x?x2xi32>
    ```
  }];

  let arguments = (ins MoA_F32Shaped:$logits, MoA_IndexShaped:$indices,
                       Optional<MoA_MaskShaped>:$query_padding_mask,
                       Optional<MoA_F32Shaped>:$statistics);
  let results = (outs MoA_ScalarF32Shaped:$loss);

  let assemblyFormat = [{
    $logits `,` $indices
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    (`statistics` `(` $statistics^ `:` type($statistics) `)`)?
    attr-dict `:` type($logits) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def MoA_RouterZLossOp : MoA_BufferizableOp<"router_z_loss", [
    InferTypeOpAdaptor, MoA_CostOpInterface,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "router z-loss: mean squared log-sum-exp of the logits";
  let description = [{
    `L = mean_t (logsumexp_e logits[t, e])^2` over the tokens of `logits`
    [B, T, E] (f32) not marked in `query_padding_mask`; the log-sum-exp is
    computed stably. Returns a 0-d f32 tensor (zero if every token is padded).

    ```mlir
    %z = moa.router_z_loss %logits : tensor<?x?x8xf32>
    ```
  }];

  let arguments = (ins MoA_F32Shaped:$logits,
                       Optional<MoA_MaskShaped>:$query_padding_mask);
  let results = (outs MoA_ScalarF32Shaped:$loss);

  let assemblyFormat = [{
    $logits
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits)
  }];
  let hasVerifier = 1;
}

def MoA_MutualInformationLossOp : MoA_BufferizableOp<"mutual_information_loss", [
    InferTypeOpAdaptor, MoA_CostOpInterface,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "negative token-expert mutual information of a router";
  let description = [{
    The optional auxiliary loss of the MoA follow-ups (SUT, ModuleFormer;
    not in the official MoA code): with p(e|t) the softmax of the router
    `logits` [B, T, E] (f32) and tokens uniform over those not marked in
    `query_padding_mask`, `L = H(E|T) - H(E) = -MI(T; E)`, where
    `H(E|T) = -mean_t sum_e p(e|t) log p(e|t)` and `H(E)` is the entropy of
    `p(e) = mean_t p(e|t)`. Minimising it makes each token's choice sharp and
    the experts' overall use balanced. Returns a 0-d f32 tensor (zero if
    every token is padded).

    ```mlir
    %mi = moa.mutual_information_loss %logits : tensor<?x?x8xf32>
    ```
  }];

  let arguments = (ins MoA_F32Shaped:$logits,
                       Optional<MoA_MaskShaped>:$query_padding_mask);
  let results = (outs MoA_ScalarF32Shaped:$loss);

  let assemblyFormat = [{
    $logits
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($logits)
  }];
  let hasVerifier = 1;
}

def MoA_ImportanceCVLossOp : MoA_BufferizableOp<"importance_cv_loss", [
    InferTypeOpAdaptor, MoA_CostOpInterface,
    DeclareOpInterfaceMethods<MoA_GradientOpInterface>]> {
  let summary = "squared coefficient of variation of the experts' importance";
  let description = [{
    The optional auxiliary loss of sparsely-gated mixtures (Shazeer et al.
    2017; off in the official MoA run): with `importance_e` the sum of the
    gates [B, T, k] (f32) of the (token, slot) pairs routed to expert e by
    `indices` [B, T, k] (pairs with index -1 add nothing),
    `L = var(importance) / (mean(importance)^2 + 1e-10)`, the variance
    unbiased (over the E = `num_experts` experts) as `torch.var`; zero when
    E = 1. Returns a 0-d f32 tensor. Its gradient flows into the gates.

    ```mlir
    %cv = moa.importance_cv_loss %gates, %idx experts(8)
        : tensor<?x?x2xf32>, tensor<?x?x2xi32>
    ```
  }];

  let arguments = (ins MoA_F32Shaped:$gates, MoA_IndexShaped:$indices,
                       MoA_TopKAttr:$num_experts);
  let results = (outs MoA_ScalarF32Shaped:$loss);

  let assemblyFormat = [{
    $gates `,` $indices `experts` `(` $num_experts `)` attr-dict `:`
    type($gates) `,` type($indices)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moa.record_routing
//===----------------------------------------------------------------------===//

def MoA_RecordRoutingOp : MoA_Op<"record_routing", [MemoryEffects<[MemWrite]>]> {
  let summary = "hand the routing of a call to the runtime's head-usage report";
  let description = [{
    Left by the lowerings of `moa.route` on buffers: the `indices` [B, T, k]
    (i32, -1 for padding) of `num_experts` experts are counted into the
    runtime's head-usage statistics (`moa_rt_record_routing`, which
    `moa-run` prints and `moa-train` plots). On the CPU it becomes that call
    at once; for GPU entries `moa-gpu-host-boundary` copies the device
    indices to the host with the results and makes the call after the
    entry's one synchronisation. It writes runtime state, so it is never
    removed or reordered with other side effects.

    ```mlir
    moa.record_routing %indices experts(%e) : memref<?x?x?xi32>
    ```
  }];

  let arguments = (ins
    Arg<MemRefRankOf<[I32], [3]>, "routing indices [B, T, k]", [MemRead]>:$indices,
    Index:$num_experts
  );
  let assemblyFormat = [{
    $indices `experts` `(` $num_experts `)` attr-dict `:` type($indices)
  }];
}

include "dialect/MoAFusedOps.td"
include "dialect/MoATrainingOps.td"
include "dialect/MoADecodeOps.td"

#endif // MOA_DIALECT_MOAOPS_TD
