//===- MoAFusedOps.td - fused forms of moa primitives ------*- tablegen -*-===//
//
// What moa-fuse makes of the decomposed layer: the router projection with
// top-k routing, and the shared key and value projections as one op. The
// gate-weighted combine is moa.grouped_matmul's `gates` form. The CPU and GPU
// lowerings consume these ops; moa-cost reports the same MACs for them as
// for what they replace.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_DIALECT_MOAFUSEDOPS_TD
#define MOA_DIALECT_MOAFUSEDOPS_TD

def MoA_ProjectRouteOp : MoA_BufferizableOp<"project_route", [
    InferTypeOpAdaptor,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>]> {
  let summary = "router projection fused with softmax and top-k routing";
  let description = [{
    `logits = x w_gate` in f32 ([B, T, d] x [d, E] -> [B, T, E]) followed by
    `moa.route` on those logits with the same `k`, `gating`, `renormalize`
    and `query_padding_mask`. The logits are a result too (the auxiliary
    losses read them). One op, so that a lowering can route each token
    while its logits are still in registers (a warp per 4 tokens on the GPU).

    ```mlir
    %logits, %idx, %gates = moa.project_route %x, %w_gate k(2)
        : tensor<?x?x256xbf16>, tensor<256x8xf32>
    ```
  }];

  let arguments = (ins
    MoA_FloatShaped:$x,
    MoA_FloatShaped:$w_gate,
    Optional<MoA_MaskShaped>:$query_padding_mask,
    MoA_TopKAttr:$k,
    DefaultValuedAttr<MoA_GatingAttr, "::mlir::moa::Gating::SoftmaxTopK">:$gating,
    UnitAttr:$renormalize
  );
  let results = (outs MoA_F32Shaped:$logits, MoA_I32Shaped:$indices,
                      MoA_F32Shaped:$gates);

  let assemblyFormat = [{
    $x `,` $w_gate `k` `(` $k `)`
    (`query_padding_mask` `(` $query_padding_mask^ `:` type($query_padding_mask) `)`)?
    attr-dict `:` type($x) `,` type($w_gate)
  }];
  let hasVerifier = 1;
}

def MoA_KeyValueProjectionOp : MoA_BufferizableOp<"key_value_projection", [
    InferTypeOpAdaptor, AllTypesMatch<["w_key", "w_value"]>,
    DeclareOpInterfaceMethods<MoA_CostOpInterface, ["getCost"]>]> {
  let summary = "the shared key and value projections as one op";
  let description = [{
    `key = input w_key` and `value = input w_value` ([B, S, d] x [d, h] ->
    [B, S, h], in the input's element type, f32 accumulation): MoA's one
    key/value head, shared by all experts. One op, so that a lowering reads
    each tile of `input` once for both (one GEMM over the two weights).

    ```mlir
    %key, %value = moa.key_value_projection %x, %w_key, %w_value
        : tensor<?x?x256xf32>, tensor<256x64xf32>
    ```
  }];

  let arguments = (ins MoA_FloatShaped:$input, MoA_FloatShaped:$w_key,
                       MoA_FloatShaped:$w_value);
  let results = (outs MoA_FloatShaped:$key, MoA_FloatShaped:$value);

  let assemblyFormat = [{
    $input `,` $w_key `,` $w_value attr-dict `:` type($input) `,` type($w_key)
  }];
  let hasVerifier = 1;
}

#endif // MOA_DIALECT_MOAFUSEDOPS_TD
