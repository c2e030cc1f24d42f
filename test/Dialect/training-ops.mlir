// RUN: moa-opt %s -split-input-file -verify-roundtrip | FileCheck %s
// RUN: moa-opt %s -split-input-file -mlir-print-op-generic | moa-opt -split-input-file | FileCheck %s

// Both gatings, with and without renormalisation, static and dynamic shapes,
// i32 and index indices.
// CHECK-LABEL: func.func @route_grad
// CHECK: moa.route_grad %arg0, %arg1, %arg2 : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
// CHECK: moa.route_grad %arg3, %arg4, %arg5 {gating = #moa.gating<topk_softmax>, renormalize} : tensor<2x3x4xf32>, tensor<2x3x4xindex>, tensor<2x3x4xf32>
// CHECK: moa.route_grad %arg0, %arg1, %arg2 {renormalize} : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
func.func @route_grad(%l: tensor<?x?x8xf32>, %i: tensor<?x?x2xi32>, %dg: tensor<?x?x2xf32>,
    %ls: tensor<2x3x4xf32>, %is: tensor<2x3x4xindex>, %dgs: tensor<2x3x4xf32>)
    -> (tensor<?x?x8xf32>, tensor<2x3x4xf32>, tensor<?x?x8xf32>) {
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  %1 = moa.route_grad %ls, %is, %dgs {gating = #moa.gating<topk_softmax>, renormalize}
      : tensor<2x3x4xf32>, tensor<2x3x4xindex>, tensor<2x3x4xf32>
  %2 = moa.route_grad %l, %i, %dg {gating = #moa.gating<softmax_topk>, renormalize}
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  return %0, %1, %2 : tensor<?x?x8xf32>, tensor<2x3x4xf32>, tensor<?x?x8xf32>
}

// -----

// The four modes of the grouped matmul: gather (token rows in, slot rows
// out), combine with gates (one more result), slot to slot, token rows with
// gates.
// CHECK-LABEL: func.func @grouped_matmul_grad
// CHECK: %{{.*}}, %{{.*}} = moa.grouped_matmul_grad %arg0, %arg1, %arg4, %arg5, %arg7 : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
// CHECK-NOT: ->
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moa.grouped_matmul_grad %arg2, %arg3, %arg4, %arg5, %arg8 gates(%arg6 : tensor<?x?x2xf32>) : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32> -> tensor<?x?x2xf32>
// CHECK: %{{.*}}, %{{.*}} = moa.grouped_matmul_grad %arg2, %arg3, %arg4, %arg5, %arg9 : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x256xf32>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moa.grouped_matmul_grad %arg0, %arg1, %arg4, %arg5, %arg10 gates(%arg6 : tensor<?x?x2xf32>) : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x64xf32> -> tensor<?x?x2xf32>
func.func @grouped_matmul_grad(%x: tensor<?x?x256xf32>, %wq: tensor<8x256x64xf32>,
    %slots: tensor<?x?x2x64xf32>, %wo: tensor<8x64x256xf32>, %perm: tensor<?xi32>,
    %offsets: tensor<9xi32>, %gates: tensor<?x?x2xf32>, %dq: tensor<?x?x2x64xf32>,
    %dy: tensor<?x?x256xf32>, %ds: tensor<?x?x2x256xf32>, %dt: tensor<?x?x64xf32>)
    -> (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?x?x2x64xf32>,
        tensor<8x64x256xf32>, tensor<?x?x2xf32>) {
  %dx, %dwq = moa.grouped_matmul_grad %x, %wq, %perm, %offsets, %dq
      : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>,
        tensor<?x?x2x64xf32>
  %da, %dwo, %dg = moa.grouped_matmul_grad %slots, %wo, %perm, %offsets, %dy
      gates(%gates : tensor<?x?x2xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>,
        tensor<?x?x256xf32> -> tensor<?x?x2xf32>
  %2:2 = moa.grouped_matmul_grad %slots, %wo, %perm, %offsets, %ds
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>,
        tensor<?x?x2x256xf32>
  %3:3 = moa.grouped_matmul_grad %x, %wq, %perm, %offsets, %dt
      gates(%gates : tensor<?x?x2xf32>)
      : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>,
        tensor<?x?x64xf32> -> tensor<?x?x2xf32>
  return %dx, %dwq, %da, %dwo, %dg : tensor<?x?x256xf32>, tensor<8x256x64xf32>,
      tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?x?x2xf32>
}

// -----

// Static shapes, bf16 activations and index-typed permutation (the gates and
// their gradient stay f32).
// CHECK-LABEL: func.func @grouped_matmul_grad_static_bf16
// CHECK: moa.grouped_matmul_grad %arg0, %arg1, %arg2, %arg3, %arg4 gates(%arg5 : tensor<2x3x2xf32>) : tensor<2x3x2x8xbf16>, tensor<4x8x16xbf16>, tensor<12xindex>, tensor<5xindex>, tensor<2x3x16xbf16> -> tensor<2x3x2xf32>
func.func @grouped_matmul_grad_static_bf16(%a: tensor<2x3x2x8xbf16>, %w: tensor<4x8x16xbf16>,
    %perm: tensor<12xindex>, %offsets: tensor<5xindex>, %dy: tensor<2x3x16xbf16>,
    %g: tensor<2x3x2xf32>) -> (tensor<2x3x2x8xbf16>, tensor<4x8x16xbf16>, tensor<2x3x2xf32>) {
  %0:3 = moa.grouped_matmul_grad %a, %w, %perm, %offsets, %dy gates(%g : tensor<2x3x2xf32>)
      : tensor<2x3x2x8xbf16>, tensor<4x8x16xbf16>, tensor<12xindex>, tensor<5xindex>,
        tensor<2x3x16xbf16> -> tensor<2x3x2xf32>
  return %0#0, %0#1, %0#2 : tensor<2x3x2x8xbf16>, tensor<4x8x16xbf16>, tensor<2x3x2xf32>
}

// -----

// CHECK-LABEL: func.func @multi_query_attention_grad
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moa.multi_query_attention_grad %arg0, %arg1, %arg2, %arg3, %arg4 : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
// CHECK: moa.multi_query_attention_grad %arg0, %arg1, %arg2, %arg3, %arg4 key_padding_mask(%arg5 : tensor<?x?xi1>) {causal, scale = 1.250000e-01 : f32} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
func.func @multi_query_attention_grad(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>,
    %v: tensor<?x?x64xf32>, %o: tensor<?x?x2x64xf32>, %do: tensor<?x?x2x64xf32>,
    %kpm: tensor<?x?xi1>) -> (tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %dq, %dk, %dv = moa.multi_query_attention_grad %q, %k, %v, %o, %do
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  %1:3 = moa.multi_query_attention_grad %q, %k, %v, %o, %do key_padding_mask(%kpm : tensor<?x?xi1>)
      {causal, scale = 0.125 : f32}
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return %1#0, %dk, %dv : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
}

// -----

// The forward's row log-sum-exp (with_lse), handed to the backward.
// CHECK-LABEL: func.func @attention_with_lse
// CHECK: %[[O:.*]], %[[LSE:.*]] = moa.multi_query_attention %arg0, %arg1, %arg2 key_padding_mask(%arg4 : tensor<?x?xi1>) {causal, with_lse} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
// CHECK: moa.multi_query_attention_grad %arg0, %arg1, %arg2, %[[O]], %arg3 key_padding_mask(%arg4 : tensor<?x?xi1>) lse(%[[LSE]] : tensor<?x?x2xf32>) {causal} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
func.func @attention_with_lse(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>,
    %v: tensor<?x?x64xf32>, %do: tensor<?x?x2x64xf32>, %kpm: tensor<?x?xi1>)
    -> (tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v key_padding_mask(%kpm : tensor<?x?xi1>)
      {causal, with_lse} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  %dq, %dk, %dv = moa.multi_query_attention_grad %q, %k, %v, %o, %do
      key_padding_mask(%kpm : tensor<?x?xi1>) lse(%lse : tensor<?x?x2xf32>) {causal}
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return %dq, %dk, %dv : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
}

// -----

// Cross-attention (S != T), static, bf16.
// CHECK-LABEL: func.func @multi_query_attention_grad_static
// CHECK: moa.multi_query_attention_grad %arg0, %arg1, %arg2, %arg3, %arg4 key_padding_mask(%arg5 : tensor<2x7xi1>) : tensor<2x5x3x8xbf16>, tensor<2x7x8xbf16>, tensor<2x7x8xbf16>
func.func @multi_query_attention_grad_static(%q: tensor<2x5x3x8xbf16>, %k: tensor<2x7x8xbf16>,
    %v: tensor<2x7x8xbf16>, %o: tensor<2x5x3x8xbf16>, %do: tensor<2x5x3x8xbf16>,
    %kpm: tensor<2x7xi1>) -> tensor<2x7x8xbf16> {
  %dq, %dk, %dv = moa.multi_query_attention_grad %q, %k, %v, %o, %do
      key_padding_mask(%kpm : tensor<2x7xi1>)
      : tensor<2x5x3x8xbf16>, tensor<2x7x8xbf16>, tensor<2x7x8xbf16>
  return %dk : tensor<2x7x8xbf16>
}

// -----

// CHECK-LABEL: func.func @aux_loss_grads
// CHECK: moa.load_balancing_loss_grad %arg0, %arg1, %arg3 : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.load_balancing_loss_grad %arg0, %arg1, %arg3 query_padding_mask(%arg2 : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.router_z_loss_grad %arg0, %arg3 : tensor<?x?x8xf32>
// CHECK: moa.router_z_loss_grad %arg0, %arg3 query_padding_mask(%arg2 : tensor<?x?xi1>) : tensor<?x?x8xf32>
func.func @aux_loss_grads(%logits: tensor<?x?x8xf32>, %idx: tensor<?x?x2xi32>,
    %qpm: tensor<?x?xi1>, %dloss: tensor<f32>)
    -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %0 = moa.load_balancing_loss_grad %logits, %idx, %dloss : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %1 = moa.load_balancing_loss_grad %logits, %idx, %dloss
      query_padding_mask(%qpm : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %2 = moa.router_z_loss_grad %logits, %dloss : tensor<?x?x8xf32>
  %3 = moa.router_z_loss_grad %logits, %dloss query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x8xf32>
  return %0, %1, %2, %3 : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @aux_loss_grads_static
// CHECK: moa.load_balancing_loss_grad %arg0, %arg1, %arg3 query_padding_mask(%arg2 : tensor<2x3xi1>) : tensor<2x3x4xf32>, tensor<2x3x1xindex>
// CHECK: moa.router_z_loss_grad %arg0, %arg3 query_padding_mask(%arg2 : tensor<2x3xi1>) : tensor<2x3x4xf32>
func.func @aux_loss_grads_static(%logits: tensor<2x3x4xf32>, %idx: tensor<2x3x1xindex>,
    %qpm: tensor<2x3xi1>, %dloss: tensor<f32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  %0 = moa.load_balancing_loss_grad %logits, %idx, %dloss
      query_padding_mask(%qpm : tensor<2x3xi1>) : tensor<2x3x4xf32>, tensor<2x3x1xindex>
  %1 = moa.router_z_loss_grad %logits, %dloss query_padding_mask(%qpm : tensor<2x3xi1>)
      : tensor<2x3x4xf32>
  return %0, %1 : tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// -----

// The mutual information loss gradient, with and without query padding,
// dynamic and static shapes.
// CHECK-LABEL: func.func @mutual_information_loss_grad
// CHECK: %[[L:.*]] = moa.mutual_information_loss %arg0 : tensor<?x?x8xf32>
// CHECK: moa.mutual_information_loss_grad %arg0, %[[L]] : tensor<?x?x8xf32>
// CHECK: moa.mutual_information_loss_grad %arg0, %arg2 query_padding_mask(%arg1 : tensor<?x?xi1>) : tensor<?x?x8xf32>
// CHECK: moa.mutual_information_loss_grad %arg3, %arg2 query_padding_mask(%arg4 : tensor<2x3xi1>) : tensor<2x3x4xf32>
func.func @mutual_information_loss_grad(%logits: tensor<?x?x8xf32>, %qpm: tensor<?x?xi1>,
    %dloss: tensor<f32>, %ls: tensor<2x3x4xf32>, %qs: tensor<2x3xi1>)
    -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<2x3x4xf32>) {
  %0 = moa.mutual_information_loss %logits : tensor<?x?x8xf32>
  %1 = moa.mutual_information_loss_grad %logits, %0 : tensor<?x?x8xf32>
  %2 = moa.mutual_information_loss_grad %logits, %dloss query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x8xf32>
  %3 = moa.mutual_information_loss_grad %ls, %dloss query_padding_mask(%qs : tensor<2x3xi1>)
      : tensor<2x3x4xf32>
  return %1, %2, %3 : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<2x3x4xf32>
}

// -----

// The importance CV^2 loss and its gradient, dynamic and static shapes, i32
// and index indices.
// CHECK-LABEL: func.func @importance_cv_loss
// CHECK: %[[L:.*]] = moa.importance_cv_loss %arg0, %arg1 experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
// CHECK: moa.importance_cv_loss_grad %arg0, %arg1, %[[L]] experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
// CHECK: moa.importance_cv_loss %arg2, %arg3 experts(4) : tensor<2x3x4xf32>, tensor<2x3x4xindex>
// CHECK: moa.importance_cv_loss_grad %arg2, %arg3, %arg4 experts(4) : tensor<2x3x4xf32>, tensor<2x3x4xindex>
// CHECK: moa.importance_cv_loss_grad %arg5, %arg6, %arg4 experts(1) : tensor<1x5x1xf32>, tensor<1x5x1xi32>
func.func @importance_cv_loss(%g: tensor<?x?x2xf32>, %i: tensor<?x?x2xi32>,
    %gs: tensor<2x3x4xf32>, %is: tensor<2x3x4xindex>, %dloss: tensor<f32>,
    %g1: tensor<1x5x1xf32>, %i1: tensor<1x5x1xi32>)
    -> (tensor<?x?x2xf32>, tensor<f32>, tensor<2x3x4xf32>, tensor<1x5x1xf32>) {
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  %1 = moa.importance_cv_loss_grad %g, %i, %0 experts(8)
      : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  %2 = moa.importance_cv_loss %gs, %is experts(4) : tensor<2x3x4xf32>, tensor<2x3x4xindex>
  %3 = moa.importance_cv_loss_grad %gs, %is, %dloss experts(4)
      : tensor<2x3x4xf32>, tensor<2x3x4xindex>
  %4 = moa.importance_cv_loss_grad %g1, %i1, %dloss experts(1)
      : tensor<1x5x1xf32>, tensor<1x5x1xi32>
  return %1, %2, %3, %4 : tensor<?x?x2xf32>, tensor<f32>, tensor<2x3x4xf32>, tensor<1x5x1xf32>
}

// -----

// The default epsilon is not printed; any rank >= 1 is normalised over its
// last dimension.
// CHECK-LABEL: func.func @layer_norm
// CHECK: moa.layer_norm %arg0, %arg1, %arg2 : tensor<?x?x256xf32>, tensor<256xf32>
// CHECK: moa.layer_norm %arg3, %arg4, %arg4 {epsilon = 9.99999997E-7 : f32} : tensor<8xf32>, tensor<8xf32>
// CHECK: moa.layer_norm %arg5, %arg6, %arg6 : tensor<?x?x?x?xf32>, tensor<?xf32>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moa.layer_norm_grad %arg0, %arg1, %arg7 : tensor<?x?x256xf32>, tensor<256xf32>
// CHECK: moa.layer_norm_grad %arg3, %arg4, %arg3 {epsilon = 9.99999997E-7 : f32} : tensor<8xf32>, tensor<8xf32>
func.func @layer_norm(%x: tensor<?x?x256xf32>, %gamma: tensor<256xf32>, %beta: tensor<256xf32>,
    %v: tensor<8xf32>, %g8: tensor<8xf32>, %x4: tensor<?x?x?x?xf32>, %gd: tensor<?xf32>,
    %dy: tensor<?x?x256xf32>)
    -> (tensor<?x?x256xf32>, tensor<8xf32>, tensor<?x?x?x?xf32>, tensor<?x?x256xf32>,
        tensor<256xf32>, tensor<256xf32>, tensor<8xf32>) {
  %0 = moa.layer_norm %x, %gamma, %beta : tensor<?x?x256xf32>, tensor<256xf32>
  %1 = moa.layer_norm %v, %g8, %g8 {epsilon = 1.0e-6 : f32} : tensor<8xf32>, tensor<8xf32>
  %2 = moa.layer_norm %x4, %gd, %gd : tensor<?x?x?x?xf32>, tensor<?xf32>
  %dx, %dgamma, %dbeta = moa.layer_norm_grad %x, %gamma, %dy : tensor<?x?x256xf32>, tensor<256xf32>
  %4:3 = moa.layer_norm_grad %v, %g8, %v {epsilon = 1.0e-6 : f32} : tensor<8xf32>, tensor<8xf32>
  return %0, %1, %2, %dx, %dgamma, %dbeta, %4#1 : tensor<?x?x256xf32>, tensor<8xf32>,
      tensor<?x?x?x?xf32>, tensor<?x?x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @embedding
// CHECK: moa.embedding %arg0, %arg1 : tensor<?x?xi32>, tensor<64x256xf32> -> tensor<?x?x256xf32>
// CHECK: moa.embedding %arg2, %arg1 : tensor<2x5xindex>, tensor<64x256xf32> -> tensor<2x5x256xf32>
// CHECK: moa.embedding_grad %arg0, %arg1, %arg3 : tensor<?x?xi32>, tensor<64x256xf32>, tensor<?x?x256xf32>
// CHECK: moa.embedding_grad %arg2, %arg4, %arg5 : tensor<2x5xindex>, tensor<?x?xf32>, tensor<2x5x?xf32>
func.func @embedding(%ids: tensor<?x?xi32>, %table: tensor<64x256xf32>, %ids2: tensor<2x5xindex>,
    %dx: tensor<?x?x256xf32>, %tdyn: tensor<?x?xf32>, %dx2: tensor<2x5x?xf32>)
    -> (tensor<?x?x256xf32>, tensor<2x5x256xf32>, tensor<64x256xf32>, tensor<?x?xf32>) {
  %0 = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<64x256xf32> -> tensor<?x?x256xf32>
  %1 = moa.embedding %ids2, %table : tensor<2x5xindex>, tensor<64x256xf32> -> tensor<2x5x256xf32>
  %2 = moa.embedding_grad %ids, %table, %dx : tensor<?x?xi32>, tensor<64x256xf32>, tensor<?x?x256xf32>
  %3 = moa.embedding_grad %ids2, %tdyn, %dx2 : tensor<2x5xindex>, tensor<?x?xf32>, tensor<2x5x?xf32>
  return %0, %1, %2, %3 : tensor<?x?x256xf32>, tensor<2x5x256xf32>, tensor<64x256xf32>, tensor<?x?xf32>
}

// -----

// CHECK-LABEL: func.func @cross_entropy
// CHECK: moa.cross_entropy %arg0, %arg1 : tensor<?x?x64xf32>, tensor<?x?xi32>
// CHECK: moa.cross_entropy %arg2, %arg3 : tensor<2x5x64xf32>, tensor<2x5xindex>
// CHECK: moa.cross_entropy_grad %arg0, %arg1, %arg4 : tensor<?x?x64xf32>, tensor<?x?xi32>
// CHECK: moa.cross_entropy_grad %arg2, %arg3, %arg4 : tensor<2x5x64xf32>, tensor<2x5xindex>
func.func @cross_entropy(%logits: tensor<?x?x64xf32>, %targets: tensor<?x?xi32>,
    %ls: tensor<2x5x64xf32>, %ts: tensor<2x5xindex>, %dloss: tensor<f32>)
    -> (tensor<f32>, tensor<f32>, tensor<?x?x64xf32>, tensor<2x5x64xf32>) {
  %0 = moa.cross_entropy %logits, %targets : tensor<?x?x64xf32>, tensor<?x?xi32>
  %1 = moa.cross_entropy %ls, %ts : tensor<2x5x64xf32>, tensor<2x5xindex>
  %2 = moa.cross_entropy_grad %logits, %targets, %dloss : tensor<?x?x64xf32>, tensor<?x?xi32>
  %3 = moa.cross_entropy_grad %ls, %ts, %dloss : tensor<2x5x64xf32>, tensor<2x5xindex>
  return %0, %1, %2, %3 : tensor<f32>, tensor<f32>, tensor<?x?x64xf32>, tensor<2x5x64xf32>
}

// -----

// One input, several of any rank (0-d included), dynamic shapes.
// CHECK-LABEL: func.func @global_norm
// CHECK: moa.global_norm %arg0 : tensor<8x64xf32>
// CHECK: moa.global_norm %arg0, %arg1, %arg2, %arg3 : tensor<8x64xf32>, tensor<64xf32>, tensor<f32>, tensor<?x?x?xf32>
func.func @global_norm(%a: tensor<8x64xf32>, %b: tensor<64xf32>, %c: tensor<f32>,
    %d: tensor<?x?x?xf32>) -> (tensor<f32>, tensor<f32>) {
  %0 = moa.global_norm %a : tensor<8x64xf32>
  %1 = moa.global_norm %a, %b, %c, %d : tensor<8x64xf32>, tensor<64xf32>, tensor<f32>, tensor<?x?x?xf32>
  return %0, %1 : tensor<f32>, tensor<f32>
}

// -----

// Only lr is required; defaults are not printed, every other attribute is.
// CHECK-LABEL: func.func @adamw
// CHECK: %new_param, %new_m, %new_v = moa.adamw %arg0, %arg1, %arg2, %arg3 step(%arg4) norm(%arg5) {lr = 1.000000e-03 : f32} : tensor<8x64xf32>
// CHECK: moa.adamw %arg0, %arg1, %arg2, %arg3 step(%arg4) norm(%arg5) {beta1 = 8.000000e-01 : f32, beta2 = 9.990000e-01 : f32, epsilon = 9.99999997E-7 : f32, lr = 7.000000e-04 : f32, max_grad_norm = 1.000000e+00 : f32, warmup_steps = 4000 : i64, weight_decay = 0.00999999977 : f32} : tensor<8x64xf32>
// CHECK: moa.adamw %arg6, %arg6, %arg6, %arg6 step(%arg4) norm(%arg5) {beta1 = 0.000000e+00 : f32, lr = 1.000000e+00 : f32} : tensor<?xf32>
func.func @adamw(%p: tensor<8x64xf32>, %g: tensor<8x64xf32>, %m: tensor<8x64xf32>,
    %v: tensor<8x64xf32>, %step: tensor<f32>, %norm: tensor<f32>, %dyn: tensor<?xf32>)
    -> (tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<?xf32>) {
  %p1, %m1, %v1 = moa.adamw %p, %g, %m, %v step(%step) norm(%norm) {lr = 1.0e-3 : f32}
      : tensor<8x64xf32>
  %1:3 = moa.adamw %p, %g, %m, %v step(%step) norm(%norm)
      {lr = 7.0e-4 : f32, beta1 = 0.8 : f32, beta2 = 0.999 : f32, epsilon = 1.0e-6 : f32,
       weight_decay = 0.01 : f32, warmup_steps = 4000 : i64, max_grad_norm = 1.0 : f32}
      : tensor<8x64xf32>
  %2:3 = moa.adamw %dyn, %dyn, %dyn, %dyn step(%step) norm(%norm)
      {lr = 1.0 : f32, beta1 = 0.0 : f32, weight_decay = 0.0 : f32, warmup_steps = 0 : i64}
      : tensor<?xf32>
  return %p1, %m1, %v1, %1#0, %2#0
      : tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<?xf32>
}

// -----

// The buffer form (as One-Shot Bufferize leaves it) prints and parses back:
// the 0-d f32 operands, whose type the text leaves out, are memref<f32> when
// the op's other operands are memrefs.
// CHECK-LABEL: func.func @scalar_operands_in_buffer_form
// CHECK: moa.load_balancing_loss_grad %arg0, %arg1, %arg2 : memref<?x?x8xf32>, memref<?x?x2xi32>
// CHECK: moa.router_z_loss_grad %arg0, %arg2 : memref<?x?x8xf32>
// CHECK: moa.mutual_information_loss_grad %arg0, %arg2 : memref<?x?x8xf32>
// CHECK: moa.importance_cv_loss_grad %arg3, %arg1, %arg2 experts(8) : memref<?x?x2xf32>, memref<?x?x2xi32>
// CHECK: moa.cross_entropy_grad %arg0, %arg4, %arg2 : memref<?x?x8xf32>, memref<?x?xi32>
// CHECK: moa.adamw %arg5, %arg5, %arg5, %arg5 step(%arg2) norm(%arg2) {lr = 1.000000e-03 : f32} : memref<4xf32>
func.func @scalar_operands_in_buffer_form(%logits: memref<?x?x8xf32>, %idx: memref<?x?x2xi32>,
    %dloss: memref<f32>, %gates: memref<?x?x2xf32>, %targets: memref<?x?xi32>, %p: memref<4xf32>) {
  %0 = moa.load_balancing_loss_grad %logits, %idx, %dloss : memref<?x?x8xf32>, memref<?x?x2xi32>
  %1 = moa.router_z_loss_grad %logits, %dloss : memref<?x?x8xf32>
  %2 = moa.mutual_information_loss_grad %logits, %dloss : memref<?x?x8xf32>
  %3 = moa.importance_cv_loss_grad %gates, %idx, %dloss experts(8) : memref<?x?x2xf32>, memref<?x?x2xi32>
  %4 = moa.cross_entropy_grad %logits, %targets, %dloss : memref<?x?x8xf32>, memref<?x?xi32>
  moa.adamw %p, %p, %p, %p step(%dloss) norm(%dloss) {lr = 1.0e-3 : f32} : memref<4xf32>
  return
}
