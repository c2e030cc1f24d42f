// RUN: moa-opt %s -split-input-file -verify-roundtrip | FileCheck %s
// RUN: moa-opt %s -split-input-file -mlir-print-op-generic | moa-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @self_attention_dynamic
// CHECK: %{{.*}}, %{{.*}} = moa.mixture_attention %arg0, %arg1, %arg2, %arg3, %arg4, %arg5 k(2) : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
func.func @self_attention_dynamic(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>,
    %wq: tensor<8x256x64xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>,
    %wo: tensor<8x64x256xf32>) -> (tensor<?x?x256xf32>, tensor<?x?x8xf32>) {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>,
        tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return %y, %logits : tensor<?x?x256xf32>, tensor<?x?x8xf32>
}

// -----

// Every attribute and every optional operand, bf16 activations, f32 router.
// CHECK-LABEL: func.func @cross_attention_all_options
// CHECK: moa.mixture_attention %arg0, %arg1, %arg2, %arg3, %arg4, %arg5 k(4) memory(%arg6 : tensor<2x7x32xbf16>) key_padding_mask(%arg7 : tensor<2x7xi1>) query_padding_mask(%arg8 : tensor<2x5xi1>)
// CHECK-SAME: causal
// CHECK-SAME: gating = #moa.gating<topk_softmax>
// CHECK-SAME: renormalize
// CHECK-SAME: scale = 1.250000e-01 : f32
func.func @cross_attention_all_options(%x: tensor<2x5x32xbf16>, %wg: tensor<32x4xf32>,
    %wq: tensor<4x32x8xbf16>, %wk: tensor<32x8xbf16>, %wv: tensor<32x8xbf16>,
    %wo: tensor<4x8x32xbf16>, %mem: tensor<2x7x32xbf16>, %kpm: tensor<2x7xi1>,
    %qpm: tensor<2x5xi1>) -> (tensor<2x5x32xbf16>, tensor<2x5x4xf32>) {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(4)
      memory(%mem : tensor<2x7x32xbf16>) key_padding_mask(%kpm : tensor<2x7xi1>)
      query_padding_mask(%qpm : tensor<2x5xi1>)
      {gating = #moa.gating<topk_softmax>, renormalize, causal, scale = 0.125 : f32}
      : tensor<2x5x32xbf16>, tensor<32x4xf32>, tensor<4x32x8xbf16>,
        tensor<32x8xbf16>, tensor<32x8xbf16>, tensor<4x8x32xbf16>
  return %y, %logits : tensor<2x5x32xbf16>, tensor<2x5x4xf32>
}

// -----

// f16 everywhere, including the router weight; only the key mask.
// CHECK-LABEL: func.func @f16_key_mask_only
// CHECK: moa.mixture_attention %arg0, %arg1, %arg2, %arg3, %arg4, %arg5 k(1) key_padding_mask(%arg6 : tensor<?x?xi1>) :
func.func @f16_key_mask_only(%x: tensor<?x?x16xf16>, %wg: tensor<16x2xf16>,
    %wq: tensor<2x16x4xf16>, %wk: tensor<16x4xf16>, %wv: tensor<16x4xf16>,
    %wo: tensor<2x4x16xf16>, %kpm: tensor<?x?xi1>) -> tensor<?x?x16xf16> {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(1)
      key_padding_mask(%kpm : tensor<?x?xi1>)
      {gating = #moa.gating<softmax_topk>}
      : tensor<?x?x16xf16>, tensor<16x2xf16>, tensor<2x16x4xf16>,
        tensor<16x4xf16>, tensor<16x4xf16>, tensor<2x4x16xf16>
  return %y : tensor<?x?x16xf16>
}

// -----

// CHECK-LABEL: func.func @route
// CHECK: moa.route %arg0 k(2) : tensor<?x?x8xf32>
// CHECK: moa.route %arg0 k(8) query_padding_mask(%arg1 : tensor<?x?xi1>) {gating = #moa.gating<topk_softmax>, renormalize} : tensor<?x?x8xf32>
func.func @route(%logits: tensor<?x?x8xf32>, %qpm: tensor<?x?xi1>)
    -> (tensor<?x?x2xi32>, tensor<?x?x2xf32>, tensor<?x?x8xi32>, tensor<?x?x8xf32>) {
  %i0, %g0 = moa.route %logits k(2) : tensor<?x?x8xf32>
  %i1, %g1 = moa.route %logits k(8) query_padding_mask(%qpm : tensor<?x?xi1>)
      {gating = #moa.gating<topk_softmax>, renormalize} : tensor<?x?x8xf32>
  return %i0, %g0, %i1, %g1
      : tensor<?x?x2xi32>, tensor<?x?x2xf32>, tensor<?x?x8xi32>, tensor<?x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @dispatch
// CHECK: moa.dispatch %arg0 experts(8) : tensor<?x?x2xi32>
// CHECK: moa.dispatch %arg1 experts(4) : tensor<3x5x2xindex>
func.func @dispatch(%dyn: tensor<?x?x2xi32>, %idx: tensor<3x5x2xindex>)
    -> (tensor<?xi32>, tensor<9xi32>, tensor<30xi32>, tensor<5xi32>) {
  %p0, %o0 = moa.dispatch %dyn experts(8) : tensor<?x?x2xi32>
  %p1, %o1 = moa.dispatch %idx experts(4) : tensor<3x5x2xindex>
  return %p0, %o0, %p1, %o1 : tensor<?xi32>, tensor<9xi32>, tensor<30xi32>, tensor<5xi32>
}

// -----

// The four input/output modes of the grouped matmul.
// CHECK-LABEL: func.func @grouped_matmul
// CHECK: moa.grouped_matmul %arg0, %arg1, %arg4, %arg5 : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
// CHECK: moa.grouped_matmul %arg2, %arg3, %arg4, %arg5 gates(%arg6 : tensor<?x?x2xf32>) : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x256xf32>
// CHECK: moa.grouped_matmul %arg2, %arg3, %arg4, %arg5 : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x256xf32>
// CHECK: moa.grouped_matmul %arg0, %arg1, %arg4, %arg5 gates(%arg6 : tensor<?x?x2xf32>) : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x64xf32>
func.func @grouped_matmul(%x: tensor<?x?x256xf32>, %wq: tensor<8x256x64xf32>,
    %slots: tensor<?x?x2x64xf32>, %wo: tensor<8x64x256xf32>, %perm: tensor<?xi32>,
    %offsets: tensor<9xi32>, %gates: tensor<?x?x2xf32>)
    -> (tensor<?x?x2x64xf32>, tensor<?x?x256xf32>, tensor<?x?x2x256xf32>, tensor<?x?x64xf32>) {
  %0 = moa.grouped_matmul %x, %wq, %perm, %offsets
      : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
  %1 = moa.grouped_matmul %slots, %wo, %perm, %offsets gates(%gates : tensor<?x?x2xf32>)
      : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x256xf32>
  %2 = moa.grouped_matmul %slots, %wo, %perm, %offsets
      : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x256xf32>
  %3 = moa.grouped_matmul %x, %wq, %perm, %offsets gates(%gates : tensor<?x?x2xf32>)
      : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x64xf32>
  return %0, %1, %2, %3 : tensor<?x?x2x64xf32>, tensor<?x?x256xf32>, tensor<?x?x2x256xf32>, tensor<?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @grouped_matmul_static_bf16
// CHECK: moa.grouped_matmul %arg0, %arg1, %arg2, %arg3 : (tensor<2x3x16xbf16>, tensor<4x16x8xbf16>, tensor<12xindex>, tensor<5xindex>) -> tensor<2x3x2x8xbf16>
func.func @grouped_matmul_static_bf16(%x: tensor<2x3x16xbf16>, %w: tensor<4x16x8xbf16>,
    %perm: tensor<12xindex>, %offsets: tensor<5xindex>) -> tensor<2x3x2x8xbf16> {
  %0 = moa.grouped_matmul %x, %w, %perm, %offsets
      : (tensor<2x3x16xbf16>, tensor<4x16x8xbf16>, tensor<12xindex>, tensor<5xindex>) -> tensor<2x3x2x8xbf16>
  return %0 : tensor<2x3x2x8xbf16>
}

// -----

// CHECK-LABEL: func.func @multi_query_attention
// CHECK: moa.multi_query_attention %arg0, %arg1, %arg2 : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
// CHECK: moa.multi_query_attention %arg0, %arg1, %arg2 key_padding_mask(%arg3 : tensor<?x?xi1>) {causal, scale = 5.000000e-01 : f32} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
func.func @multi_query_attention(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>,
    %v: tensor<?x?x64xf32>, %kpm: tensor<?x?xi1>) -> (tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>) {
  %0 = moa.multi_query_attention %q, %k, %v
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  %1 = moa.multi_query_attention %q, %k, %v key_padding_mask(%kpm : tensor<?x?xi1>)
      {causal, scale = 0.5 : f32}
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return %0, %1 : tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32>
}

// -----

// The load-balancing loss of a larger batch: its routing statistics given.
// CHECK-LABEL: func.func @routing_statistics
// CHECK: %[[S:.*]] = moa.routing_statistics %arg0, %arg1 query_padding_mask(%arg2 : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.load_balancing_loss %arg0, %arg1 query_padding_mask(%arg2 : tensor<?x?xi1>) statistics(%[[S]] : tensor<2x8xf32>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.load_balancing_loss_grad %arg0, %arg1, %arg3 statistics(%[[S]] : tensor<2x8xf32>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
func.func @routing_statistics(%logits: tensor<?x?x8xf32>, %idx: tensor<?x?x2xi32>, %qpm: tensor<?x?xi1>,
    %d: tensor<f32>) -> (tensor<f32>, tensor<?x?x8xf32>) {
  %s = moa.routing_statistics %logits, %idx query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %0 = moa.load_balancing_loss %logits, %idx query_padding_mask(%qpm : tensor<?x?xi1>)
      statistics(%s : tensor<2x8xf32>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %1 = moa.load_balancing_loss_grad %logits, %idx, %d statistics(%s : tensor<2x8xf32>)
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  return %0, %1 : tensor<f32>, tensor<?x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @aux_losses
// CHECK: moa.load_balancing_loss %arg0, %arg1 : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.load_balancing_loss %arg0, %arg1 query_padding_mask(%arg2 : tensor<?x?xi1>) : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: moa.router_z_loss %arg0 : tensor<?x?x8xf32>
// CHECK: moa.router_z_loss %arg0 query_padding_mask(%arg2 : tensor<?x?xi1>) : tensor<?x?x8xf32>
func.func @aux_losses(%logits: tensor<?x?x8xf32>, %idx: tensor<?x?x2xi32>, %qpm: tensor<?x?xi1>)
    -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) {
  %0 = moa.load_balancing_loss %logits, %idx : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %1 = moa.load_balancing_loss %logits, %idx query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  %2 = moa.router_z_loss %logits : tensor<?x?x8xf32>
  %3 = moa.router_z_loss %logits query_padding_mask(%qpm : tensor<?x?xi1>) : tensor<?x?x8xf32>
  return %0, %1, %2, %3 : tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>
}

// -----

// The mutual information loss, with and without query padding, dynamic and
// static shapes.
// CHECK-LABEL: func.func @mutual_information_loss
// CHECK: moa.mutual_information_loss %arg0 : tensor<?x?x8xf32>
// CHECK: moa.mutual_information_loss %arg0 query_padding_mask(%arg1 : tensor<?x?xi1>) : tensor<?x?x8xf32>
// CHECK: moa.mutual_information_loss %arg2 query_padding_mask(%arg3 : tensor<2x3xi1>) : tensor<2x3x1xf32>
func.func @mutual_information_loss(%logits: tensor<?x?x8xf32>, %qpm: tensor<?x?xi1>,
    %ls: tensor<2x3x1xf32>, %qs: tensor<2x3xi1>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  %0 = moa.mutual_information_loss %logits : tensor<?x?x8xf32>
  %1 = moa.mutual_information_loss %logits query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x8xf32>
  %2 = moa.mutual_information_loss %ls query_padding_mask(%qs : tensor<2x3xi1>) : tensor<2x3x1xf32>
  return %0, %1, %2 : tensor<f32>, tensor<f32>, tensor<f32>
}

// -----

// CHECK-LABEL: func.func @record_routing
// CHECK: moa.record_routing %arg0 experts(%arg1) : memref<?x?x?xi32>
func.func @record_routing(%indices: memref<?x?x?xi32>, %experts: index) {
  moa.record_routing %indices experts(%experts) : memref<?x?x?xi32>
  return
}

// -----

// The attributes moa leaves on other ops for later passes.
// CHECK-LABEL: module attributes {moa.manifest = "entries"}
// CHECK: gpu.alloc () {moa.error_word} : memref<1xi32>
module attributes {moa.manifest = "entries"} {
  func.func @error_word() {
    %err = gpu.alloc () {moa.error_word} : memref<1xi32>
    return
  }
}

// -----

// CHECK-LABEL: func.func @fused
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moa.project_route %arg0, %arg1 k(2) query_padding_mask(%arg4 : tensor<?x?xi1>) {gating = #moa.gating<topk_softmax>, renormalize} : tensor<?x?x256xbf16>, tensor<256x8xf32>
// CHECK: %{{.*}}, %{{.*}} = moa.key_value_projection %arg0, %arg2, %arg3 : tensor<?x?x256xbf16>, tensor<256x64xbf16>
func.func @fused(%x: tensor<?x?x256xbf16>, %wg: tensor<256x8xf32>, %wk: tensor<256x64xbf16>,
    %wv: tensor<256x64xbf16>, %mask: tensor<?x?xi1>)
    -> (tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>, tensor<?x?x64xbf16>, tensor<?x?x64xbf16>) {
  %l, %i, %g = moa.project_route %x, %wg k(2) query_padding_mask(%mask : tensor<?x?xi1>)
      {gating = #moa.gating<topk_softmax>, renormalize} : tensor<?x?x256xbf16>, tensor<256x8xf32>
  %k, %v = moa.key_value_projection %x, %wk, %wv : tensor<?x?x256xbf16>, tensor<256x64xbf16>
  return %l, %i, %g, %k, %v : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>, tensor<?x?x64xbf16>, tensor<?x?x64xbf16>
}

// -----

// The buffer form that One-Shot Bufferize produces: the same ops on memrefs,
// results inferred as memrefs.
// CHECK-LABEL: func.func @buffer_form
// CHECK: %{{.*}}, %{{.*}} = moa.route %arg0 k(2) : memref<?x?x8xf32>
// CHECK: %{{.*}}, %{{.*}} = moa.dispatch %{{.*}} experts(8) : memref<?x?x2xi32>
// CHECK: moa.grouped_matmul %arg1, %arg2, %{{.*}}, %{{.*}} : (memref<?x?x16xbf16>, memref<8x16x4xbf16>, memref<?xi32>, memref<9xi32>) -> memref<?x?x2x4xbf16>
// CHECK: moa.load_balancing_loss %arg0, %{{.*}} : memref<?x?x8xf32>, memref<?x?x2xi32>
func.func @buffer_form(%l: memref<?x?x8xf32>, %x: memref<?x?x16xbf16>, %w: memref<8x16x4xbf16>)
    -> (memref<?x?x2x4xbf16>, memref<f32>) {
  %i, %g = moa.route %l k(2) : memref<?x?x8xf32>
  %p, %o = moa.dispatch %i experts(8) : memref<?x?x2xi32>
  %q = moa.grouped_matmul %x, %w, %p, %o
      : (memref<?x?x16xbf16>, memref<8x16x4xbf16>, memref<?xi32>, memref<9xi32>) -> memref<?x?x2x4xbf16>
  %lb = moa.load_balancing_loss %l, %i : memref<?x?x8xf32>, memref<?x?x2xi32>
  return %q, %lb : memref<?x?x2x4xbf16>, memref<f32>
}

// -----

// Attributes namespaced by a dialect ride along on any moa op.
// CHECK-LABEL: func.func @namespaced_attribute
// CHECK: moa.dispatch %arg0 experts(8) {my_pass.note = "kept"} : tensor<?x?x2xi32>
func.func @namespaced_attribute(%i: tensor<?x?x2xi32>) -> tensor<?xi32> {
  %p, %o = moa.dispatch %i experts(8) {my_pass.note = "kept"} : tensor<?x?x2xi32>
  return %p : tensor<?xi32>
}
