// RUN: moa-opt %s -split-input-file -moa-fuse | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=BEFORE
// RUN: moa-opt %s -split-input-file -moa-fuse -moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=AFTER

// The decomposed layer: the router projection and moa.route become
// moa.project_route (at the projection), the key and value projections one
// moa.key_value_projection; the output combine is already fused. moa-cost
// reports the same total before and after.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:.*]]: tensor<2x5x16xf32>, %[[WG:.*]]: tensor<16x4xf32>, %[[WQ:.*]]: tensor<4x16x8xf32>, %[[WK:.*]]: tensor<16x8xf32>, %[[WV:.*]]: tensor<16x8xf32>, %[[WO:.*]]: tensor<4x8x16xf32>)
// CHECK-NOT: linalg.contract
// CHECK: %[[L:.*]], %[[I:.*]], %[[G:.*]] = moa.project_route %[[X]], %[[WG]] k(2) {gating = #moa.gating<topk_softmax>, renormalize} : tensor<2x5x16xf32>, tensor<16x4xf32>
// CHECK: %[[P:.*]], %[[O:.*]] = moa.dispatch %[[I]] experts(4)
// CHECK: %[[Q:.*]] = moa.grouped_matmul %[[X]], %[[WQ]], %[[P]], %[[O]] :
// CHECK: %[[K:.*]], %[[V:.*]] = moa.key_value_projection %[[X]], %[[WK]], %[[WV]] : tensor<2x5x16xf32>, tensor<16x8xf32>
// CHECK: %[[A:.*]] = moa.multi_query_attention %[[Q]], %[[K]], %[[V]]
// CHECK: %[[Y:.*]] = moa.grouped_matmul %[[A]], %[[WO]], %[[P]], %[[O]] gates(%[[G]] : tensor<2x5x2xf32>)
// CHECK-NOT: linalg.contract
// CHECK: return %[[Y]], %[[L]]
// BEFORE-LABEL: moa-cost @layer
// BEFORE: total: macs 9920, params 1344
// AFTER-LABEL: moa-cost @layer
// AFTER: moa.project_route: macs 640 = 64/query token x 10, params 64
// AFTER: moa.key_value_projection: macs 2560 = 256/key token x 10, params 256
// AFTER: total: macs 9920, params 1344
#rows = affine_map<(b, t, n, c) -> (b, t, c)>
#weight = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @layer(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>)
    -> (tensor<2x5x16xf32>, tensor<2x5x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<2x5x4xf32>
  %z4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wg : tensor<2x5x16xf32>, tensor<16x4xf32>) outs(%z4 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %idx, %gates = moa.route %logits k(2) {gating = #moa.gating<topk_softmax>, renormalize} : tensor<2x5x4xf32>
  %perm, %off = moa.dispatch %idx experts(4) : tensor<2x5x2xi32>
  %q = moa.grouped_matmul %x, %wq, %perm, %off
      : (tensor<2x5x16xf32>, tensor<4x16x8xf32>, tensor<20xi32>, tensor<5xi32>) -> tensor<2x5x2x8xf32>
  %e8 = tensor.empty() : tensor<2x5x8xf32>
  %z8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %key = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wk : tensor<2x5x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %value = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wv : tensor<2x5x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %att = moa.multi_query_attention %q, %key, %value : tensor<2x5x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  %y = moa.grouped_matmul %att, %wo, %perm, %off gates(%gates : tensor<2x5x2xf32>)
      : (tensor<2x5x2x8xf32>, tensor<4x8x16xf32>, tensor<20xi32>, tensor<5xi32>) -> tensor<2x5x16xf32>
  return %y, %logits : tensor<2x5x16xf32>, tensor<2x5x4xf32>
}

// -----

// A query padding mask defined after the projection keeps the fused op at
// the projection from seeing it: nothing is fused. A projection that
// accumulates into a non-zero init is not the router's either.
// CHECK-LABEL: func.func @mask_after_projection
// CHECK: linalg.contract
// CHECK: moa.route
// CHECK-NOT: moa.project_route
// CHECK-LABEL: func.func @conditional_route
// CHECK: linalg.contract
// CHECK: scf.if
// CHECK: moa.route
// CHECK-NOT: moa.project_route
// CHECK-LABEL: func.func @accumulating_projection
// CHECK: linalg.contract
// CHECK: moa.route
// CHECK-NOT: moa.project_route
#rows = affine_map<(b, t, n, c) -> (b, t, c)>
#weight = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @mask_after_projection(%x: tensor<?x?x16xbf16>, %wg: tensor<16x4xf32>, %z: tensor<?x?x4xf32>)
    -> (tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wg : tensor<?x?x16xbf16>, tensor<16x4xf32>) outs(%z : tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %x, %c0 : tensor<?x?x16xbf16>
  %t = tensor.dim %x, %c1 : tensor<?x?x16xbf16>
  %mask = tensor.empty(%b, %t) : tensor<?x?xi1>
  %idx, %gates = moa.route %logits k(2) query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x4xf32>
  return %idx, %gates : tensor<?x?x2xi32>, tensor<?x?x2xf32>
}
// A route under a condition stays there: the fused op would run where the
// projection is, unconditionally.
func.func @conditional_route(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %c: i1)
    -> tensor<2x5x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<2x5x4xf32>
  %z4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wg : tensor<2x5x16xf32>, tensor<16x4xf32>) outs(%z4 : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %g = scf.if %c -> tensor<2x5x2xf32> {
    %idx, %gates = moa.route %logits k(2) : tensor<2x5x4xf32>
    scf.yield %gates : tensor<2x5x2xf32>
  } else {
    %e2 = tensor.empty() : tensor<2x5x2xf32>
    scf.yield %e2 : tensor<2x5x2xf32>
  }
  return %g : tensor<2x5x2xf32>
}
func.func @accumulating_projection(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %init: tensor<2x5x4xf32>)
    -> (tensor<2x5x2xi32>, tensor<2x5x2xf32>) {
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wg : tensor<2x5x16xf32>, tensor<16x4xf32>) outs(%init : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %idx, %gates = moa.route %logits k(2) : tensor<2x5x4xf32>
  return %idx, %gates : tensor<2x5x2xi32>, tensor<2x5x2xf32>
}

// -----

// Key and value from different inputs (cross-attention's memory for one,
// x for the other) are not one projection.
// CHECK-LABEL: func.func @different_inputs
// CHECK-NOT: moa.key_value_projection
// CHECK: moa.multi_query_attention
#rows = affine_map<(b, t, n, c) -> (b, t, c)>
#weight = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @different_inputs(%q: tensor<2x5x2x8xf32>, %x: tensor<2x5x16xf32>, %m: tensor<2x5x16xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>) -> tensor<2x5x2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e8 = tensor.empty() : tensor<2x5x8xf32>
  %z8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %key = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wk : tensor<2x5x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %value = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%m, %wv : tensor<2x5x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %att = moa.multi_query_attention %q, %key, %value : tensor<2x5x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  return %att : tensor<2x5x2x8xf32>
}

// -----

// The gate-weighted combine written out (a scatter grouped matmul reduced
// over its k slots with the gates) becomes the grouped matmul's combine.
// CHECK-LABEL: func.func @gate_combine
// CHECK-SAME: (%[[A:.*]]: tensor<?x?x2x8xbf16>, %[[WO:.*]]: tensor<4x8x16xbf16>, %[[P:.*]]: tensor<?xi32>, %[[O:.*]]: tensor<5xi32>, %[[G:.*]]: tensor<?x?x2xf32>)
// CHECK-NEXT: %[[Y:.*]] = moa.grouped_matmul %[[A]], %[[WO]], %[[P]], %[[O]] gates(%[[G]] : tensor<?x?x2xf32>) : (tensor<?x?x2x8xbf16>, tensor<4x8x16xbf16>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x16xbf16>
// CHECK-NOT: linalg.contract
// CHECK: return %[[Y]]
// A scatter result that is also used elsewhere stays as it is.
// CHECK-LABEL: func.func @scatter_used_twice
// CHECK: moa.grouped_matmul
// CHECK: linalg.contract
#slots = affine_map<(b, t, j, n) -> (b, t, j, n)>
#gates = affine_map<(b, t, j, n) -> (b, t, j)>
#sum = affine_map<(b, t, j, n) -> (b, t, n)>
func.func @gate_combine(%a: tensor<?x?x2x8xbf16>, %wo: tensor<4x8x16xbf16>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x16xbf16> {
  %s = moa.grouped_matmul %a, %wo, %p, %o
      : (tensor<?x?x2x8xbf16>, tensor<4x8x16xbf16>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x2x16xbf16>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %a, %c0 : tensor<?x?x2x8xbf16>
  %t = tensor.dim %a, %c1 : tensor<?x?x2x8xbf16>
  %zero = arith.constant 0.0 : bf16
  %e = tensor.empty(%b, %t) : tensor<?x?x16xbf16>
  %z = linalg.fill ins(%zero : bf16) outs(%e : tensor<?x?x16xbf16>) -> tensor<?x?x16xbf16>
  %y = linalg.contract indexing_maps = [#slots, #gates, #sum]
      ins(%s, %g : tensor<?x?x2x16xbf16>, tensor<?x?x2xf32>) outs(%z : tensor<?x?x16xbf16>) -> tensor<?x?x16xbf16>
  return %y : tensor<?x?x16xbf16>
}
func.func @scatter_used_twice(%a: tensor<2x5x2x8xf32>, %wo: tensor<4x8x16xf32>, %p: tensor<20xi32>,
    %o: tensor<5xi32>, %g: tensor<2x5x2xf32>) -> (tensor<2x5x16xf32>, tensor<2x5x2x16xf32>) {
  %s = moa.grouped_matmul %a, %wo, %p, %o
      : (tensor<2x5x2x8xf32>, tensor<4x8x16xf32>, tensor<20xi32>, tensor<5xi32>) -> tensor<2x5x2x16xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x5x16xf32>) -> tensor<2x5x16xf32>
  %y = linalg.contract indexing_maps = [#slots, #gates, #sum]
      ins(%s, %g : tensor<2x5x2x16xf32>, tensor<2x5x2xf32>) outs(%z : tensor<2x5x16xf32>) -> tensor<2x5x16xf32>
  return %y, %s : tensor<2x5x16xf32>, tensor<2x5x2x16xf32>
}
