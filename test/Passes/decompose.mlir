// RUN: moa-opt %s -split-input-file -moa-decompose | FileCheck %s

// Self-attention with dynamic batch and sequence: K and V project x itself.
// CHECK-DAG: #[[ROWS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[WEIGHT:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @self_attention
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x256xf32>, %[[WG:.*]]: tensor<256x8xf32>, %[[WQ:.*]]: tensor<8x256x64xf32>, %[[WK:.*]]: tensor<256x64xf32>, %[[WV:.*]]: tensor<256x64xf32>, %[[WO:.*]]: tensor<8x64x256xf32>)
// CHECK-NOT: moa.mixture_attention
// CHECK-NOT: cf.assert
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[B:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[T:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[E0:.*]] = tensor.empty(%[[B]], %[[T]]) : tensor<?x?x8xf32>
// CHECK: %[[F0:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E0]] : tensor<?x?x8xf32>)
// CHECK: %[[LOGITS:.*]] = linalg.contract indexing_maps = [#[[ROWS]], #[[WEIGHT]], #[[OUT]]] ins(%[[X]], %[[WG]] : tensor<?x?x256xf32>, tensor<256x8xf32>) outs(%[[F0]] : tensor<?x?x8xf32>)
// CHECK: %[[IDX:.*]], %[[GATES:.*]] = moa.route %[[LOGITS]] k(2) : tensor<?x?x8xf32>
// CHECK: %[[PERM:.*]], %[[OFF:.*]] = moa.dispatch %[[IDX]] experts(8) : tensor<?x?x2xi32>
// CHECK: %[[Q:.*]] = moa.grouped_matmul %[[X]], %[[WQ]], %[[PERM]], %[[OFF]] : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
// CHECK: %[[K:.*]] = linalg.contract indexing_maps = [#[[ROWS]], #[[WEIGHT]], #[[OUT]]] ins(%[[X]], %[[WK]] : tensor<?x?x256xf32>, tensor<256x64xf32>)
// CHECK: %[[V:.*]] = linalg.contract indexing_maps = [#[[ROWS]], #[[WEIGHT]], #[[OUT]]] ins(%[[X]], %[[WV]] : tensor<?x?x256xf32>, tensor<256x64xf32>)
// CHECK: %[[ATT:.*]] = moa.multi_query_attention %[[Q]], %[[K]], %[[V]] : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
// CHECK: %[[Y:.*]] = moa.grouped_matmul %[[ATT]], %[[WO]], %[[PERM]], %[[OFF]] gates(%[[GATES]] : tensor<?x?x2xf32>) : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x256xf32>
// CHECK: return %[[Y]], %[[LOGITS]]
func.func @self_attention(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>)
    -> (tensor<?x?x256xf32>, tensor<?x?x8xf32>) {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return %y, %l : tensor<?x?x256xf32>, tensor<?x?x8xf32>
}

// -----

// Cross-attention in bf16 with every option: the router accumulates in f32,
// K and V project the memory, masks and attributes reach the primitives.
// CHECK-LABEL: func.func @cross_attention_options
// CHECK-SAME: (%[[X:.*]]: tensor<2x5x32xbf16>, %[[WG:.*]]: tensor<32x4xbf16>, %{{.*}}: tensor<4x32x8xbf16>, %[[WK:.*]]: tensor<32x8xbf16>, %[[WV:.*]]: tensor<32x8xbf16>, %{{.*}}: tensor<4x8x32xbf16>, %[[M:.*]]: tensor<2x7x32xbf16>, %[[KPM:.*]]: tensor<2x7xi1>, %[[QPM:.*]]: tensor<2x5xi1>)
// CHECK: %[[LOGITS:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[WG]] : tensor<2x5x32xbf16>, tensor<32x4xbf16>) outs(%{{.*}} : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: moa.route %[[LOGITS]] k(3) query_padding_mask(%[[QPM]] : tensor<2x5xi1>) {gating = #moa.gating<topk_softmax>, renormalize} : tensor<2x5x4xf32>
// CHECK: moa.dispatch %{{.*}} experts(4) : tensor<2x5x3xi32>
// CHECK: moa.grouped_matmul {{.*}} -> tensor<2x5x3x8xbf16>
// CHECK: %[[K:.*]] = linalg.contract {{.*}} ins(%[[M]], %[[WK]] : tensor<2x7x32xbf16>, tensor<32x8xbf16>) outs(%{{.*}} : tensor<2x7x8xbf16>)
// CHECK: %[[V:.*]] = linalg.contract {{.*}} ins(%[[M]], %[[WV]] : tensor<2x7x32xbf16>, tensor<32x8xbf16>) outs(%{{.*}} : tensor<2x7x8xbf16>)
// CHECK: moa.multi_query_attention %{{.*}}, %[[K]], %[[V]] key_padding_mask(%[[KPM]] : tensor<2x7xi1>) {causal, scale = 2.500000e-01 : f32}
// CHECK: moa.grouped_matmul {{.*}} gates({{.*}} : tensor<2x5x3xf32>) {{.*}} -> tensor<2x5x32xbf16>
func.func @cross_attention_options(%x: tensor<2x5x32xbf16>, %wg: tensor<32x4xbf16>,
    %wq: tensor<4x32x8xbf16>, %wk: tensor<32x8xbf16>, %wv: tensor<32x8xbf16>,
    %wo: tensor<4x8x32xbf16>, %mem: tensor<2x7x32xbf16>, %kpm: tensor<2x7xi1>,
    %qpm: tensor<2x5xi1>) -> (tensor<2x5x32xbf16>, tensor<2x5x4xf32>) {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(3)
      memory(%mem : tensor<2x7x32xbf16>) key_padding_mask(%kpm : tensor<2x7xi1>)
      query_padding_mask(%qpm : tensor<2x5xi1>)
      {gating = #moa.gating<topk_softmax>, renormalize, causal, scale = 0.25 : f32}
      : tensor<2x5x32xbf16>, tensor<32x4xbf16>, tensor<4x32x8xbf16>,
        tensor<32x8xbf16>, tensor<32x8xbf16>, tensor<4x8x32xbf16>
  return %y, %logits : tensor<2x5x32xbf16>, tensor<2x5x4xf32>
}

// -----

// A dynamic model dimension: x's d is compared with the memory's and
// w_out's at run time (w_gate, w_query and w_key meet x or the memory in a
// contraction, whose lowering checks them), before anything reads them.
// CHECK-LABEL: func.func @dynamic_model_dim
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x?x?xf32>, %[[MEM:[^:]*]]: tensor<?x?x?xf32>
// CHECK-SAME: %[[WO:[^:]*]]: tensor<2x4x?xf32>)
// CHECK: %[[MEMD:.*]] = tensor.dim %[[MEM]], %c2
// CHECK: %[[XD:.*]] = tensor.dim %[[X]], %c2
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[MEMD]], %[[XD]] : index
// CHECK: cf.assert %[[SAME]], "moa.mixture_attention: dimension 2 of 'memory' differs from dimension 2 of 'x' (the model dimension d)"
// CHECK: %[[WOD:.*]] = tensor.dim %[[WO]], %c2
// CHECK: %[[XD2:.*]] = tensor.dim %[[X]], %c2
// CHECK: %[[SAME2:.*]] = arith.cmpi eq, %[[WOD]], %[[XD2]] : index
// CHECK: cf.assert %[[SAME2]], "moa.mixture_attention: dimension 2 of 'w_out' differs from dimension 2 of 'x' (the model dimension d)"
// CHECK: linalg.contract
func.func @dynamic_model_dim(%x: tensor<?x?x?xf32>, %mem: tensor<?x?x?xf32>,
    %wg: tensor<?x2xf32>, %wq: tensor<2x?x4xf32>, %wk: tensor<?x4xf32>,
    %wv: tensor<?x4xf32>, %wo: tensor<2x4x?xf32>) -> tensor<?x?x?xf32> {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(1)
      memory(%mem : tensor<?x?x?xf32>)
      : tensor<?x?x?xf32>, tensor<?x2xf32>, tensor<2x?x4xf32>,
        tensor<?x4xf32>, tensor<?x4xf32>, tensor<2x4x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

// Primitives are left alone.
// CHECK-LABEL: func.func @primitives_untouched
// CHECK-NEXT: moa.route %arg0 k(2)
// CHECK-NEXT: return
func.func @primitives_untouched(%l: tensor<?x?x8xf32>) -> tensor<?x?x2xf32> {
  %i, %g = moa.route %l k(2) : tensor<?x?x8xf32>
  return %g : tensor<?x?x2xf32>
}

// -----

// linalg.softmax becomes what it is made of: the row maximum, exp of the
// difference, the row sum, the division.
// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.softmax
// CHECK: linalg.generic
// CHECK: arith.maxnumf
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.divf
func.func @softmax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %s = linalg.softmax dimension(1) ins(%x : tensor<4x8xf32>)
      outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}
