// RUN: moa-opt %s -split-input-file -moa-lower-to-loops | FileCheck %s

// Router backward (softmax over all experts): sizes agree or report, the
// indices are checked serially in [-1, E) before the parallel loop over
// tokens, a bad one reports ExpertIndexOutOfRange (7); exp as a
// polynomial.
// CHECK-LABEL: func.func @route_grad(
// CHECK: scf.if
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[RESULT:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c8) : memref<?x?x?xf32>
// CHECK: %[[OK:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1) {
// CHECK: arith.cmpi sge, %{{.*}}, %c-1
// CHECK: scf.if %[[OK]] {
// CHECK-NEXT: scf.parallel
// CHECK-NOT: math.exp
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c7_i64)
// CHECK: bufferization.to_tensor %[[RESULT]] restrict writable
func.func @route_grad(%l: tensor<?x?x8xf32>, %i: tensor<?x?x2xi32>, %dg: tensor<?x?x2xf32>)
    -> tensor<?x?x8xf32> {
  %0 = moa.route_grad %l, %i, %dg {renormalize}
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  return %0 : tensor<?x?x8xf32>
}

// -----

// topk_softmax, static shapes: the size check folds away, the index check
// stays.
// CHECK-LABEL: func.func @route_grad_topk_softmax(
// CHECK: scf.for %{{.*}} = %c0 to %c12 step %c1 iter_args(%{{.*}} = %true) -> (i1)
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c6) step (%c1)
// CHECK-NOT: math.exp
// CHECK: call @moa_rt_fail(%c7_i64)
func.func @route_grad_topk_softmax(%l: tensor<2x3x8xf32>, %i: tensor<2x3x2xindex>,
    %dg: tensor<2x3x2xf32>) -> tensor<2x3x8xf32> {
  %0 = moa.route_grad %l, %i, %dg {gating = #moa.gating<topk_softmax>}
      : tensor<2x3x8xf32>, tensor<2x3x2xindex>, tensor<2x3x2xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

// Grouped matmul backward, combine form: zero-filled results, then in
// parallel over experts per tile U = G W[e]^T (B transposed, flag 1), the
// gate gradient, and dW[e] += X^T G (A transposed, flag 2, beta 1); then in
// parallel over input rows the input gradient. A bad grouping reports
// GroupedMatmulBadPermutation (2).
// CHECK-LABEL: func.func @grouped_matmul_grad(
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[DX:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c2, %c8) : memref<?x?x?x?xf32>
// CHECK: %[[DW:.*]] = memref.alloc(%c4, %c8, %c16) : memref<?x?x?xf32>
// CHECK: %[[DG:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c2) : memref<?x?x?xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c512 step %c1 {
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c4) step (%c1) {
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %cst, %cst_0, %c1_i64, %{{.*}})
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %cst, %cst, %c2_i64, %{{.*}})
// CHECK: scf.reduce
// CHECK: scf.parallel
// CHECK: call @moa_rt_fail(%c2_i64)
// CHECK: bufferization.to_tensor %[[DX]]
// CHECK: bufferization.to_tensor %[[DW]]
// CHECK: bufferization.to_tensor %[[DG]]
func.func @grouped_matmul_grad(%a: tensor<?x?x2x8xf32>, %w: tensor<4x8x16xf32>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %dy: tensor<?x?x16xf32>, %g: tensor<?x?x2xf32>)
    -> (tensor<?x?x2x8xf32>, tensor<4x8x16xf32>, tensor<?x?x2xf32>) {
  %0:3 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf32>)
      : tensor<?x?x2x8xf32>, tensor<4x8x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x?x16xf32>
        -> tensor<?x?x2xf32>
  return %0#0, %0#1, %0#2 : tensor<?x?x2x8xf32>, tensor<4x8x16xf32>, tensor<?x?x2xf32>
}

// -----

// Gather form in bf16: W^T packed once per call (moa_rt_pack_bf16,
// transposed), the rows gathered widened to f32 and G also in bf16 for
// U = G W^T on bf16 operands; the weight gradient GEMM (f32) transposes A;
// the results are narrowed back.
// CHECK-LABEL: func.func @grouped_matmul_grad_bf16(
// CHECK: call @moa_rt_pack_bf16({{.*}}, %c1_i64)
// CHECK: scf.parallel
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: call @moa_rt_bf16_gemm(
// CHECK: call @moa_rt_sgemm({{.*}}, %c2_i64, %{{.*}})
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @grouped_matmul_grad_bf16(%x: tensor<2x3x16xbf16>, %w: tensor<4x16x8xbf16>,
    %p: tensor<12xi32>, %o: tensor<5xi32>, %dy: tensor<2x3x2x8xbf16>)
    -> (tensor<2x3x16xbf16>, tensor<4x16x8xbf16>) {
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<2x3x16xbf16>, tensor<4x16x8xbf16>, tensor<12xi32>, tensor<5xi32>, tensor<2x3x2x8xbf16>
  return %0#0, %0#1 : tensor<2x3x16xbf16>, tensor<4x16x8xbf16>
}

// -----

// Attention backward: scale K^T and V^T transposed once, then in parallel
// over the batch with stack scratch tiles; S = Q (scale K^T) recomputed in
// both passes, dP = dO V^T, dV += P^T dO (A transposed), dS = scale P (dP -
// D), dQ += dS K, dK += dS^T Q (A transposed): no GEMM with a scaled or
// transposed B, which sgemm would copy. The default scale is 1/sqrt(h).
// CHECK-LABEL: func.func @multi_query_attention_grad(
// CHECK: %[[SCALE:.*]] = math.rsqrt
// CHECK: scf.parallel
// CHECK: arith.mulf {{.*}}%[[SCALE]]
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: memref.alloca() : memref<128x256xf32>
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE:.*]], %{{.*}}, %c0_i64, %{{.*}})
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %c0_i64, %{{.*}})
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %c0_i64, %{{.*}})
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %c2_i64, %{{.*}})
// CHECK: arith.mulf {{.*}}%[[SCALE]]
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %c0_i64, %{{.*}})
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %c2_i64, %{{.*}})
// CHECK-NOT: math.exp
// CHECK: } else {
// CHECK-NEXT: memref.get_global @__moa_text_
// CHECK-NEXT: memref.cast
// CHECK-NEXT: call @moa_rt_fail_in(%c3_i64, %{{.*}}) : (i64, memref<?xi8>) -> ()
func.func @multi_query_attention_grad(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>,
    %v: tensor<?x?x8xf32>, %o: tensor<?x?x2x8xf32>, %do: tensor<?x?x2x8xf32>, %m: tensor<?x?xi1>)
    -> (tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %o, %do key_padding_mask(%m : tensor<?x?xi1>)
      {causal} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return %0#0, %0#1, %0#2 : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// An explicit scale is a constant that scales K^T and dS.
// CHECK-LABEL: func.func @multi_query_attention_grad_scale(
// CHECK-NOT: math.rsqrt
// CHECK: %[[SCALE:.*]] = arith.constant 1.250000e-01 : f32
// CHECK: arith.mulf {{.*}}%[[SCALE]]
// CHECK: call @moa_rt_sgemm
// CHECK: arith.mulf {{.*}}%[[SCALE]]
func.func @multi_query_attention_grad_scale(%q: tensor<2x3x2x8xf32>, %k: tensor<2x5x8xf32>,
    %o: tensor<2x3x2x8xf32>) -> tensor<2x5x8xf32> {
  %0:3 = moa.multi_query_attention_grad %q, %k, %k, %o, %o {scale = 0.125 : f32}
      : tensor<2x3x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  return %0#1 : tensor<2x5x8xf32>
}

// -----

// Load-balancing backward: the summed probabilities P_e and the expert
// counts c_e over the non-padded tokens, serially in f64 (indices outside
// [0, E) are not counted), then in parallel over tokens.
// CHECK-LABEL: func.func @load_balancing_loss_grad(
// CHECK: %[[PROBS:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK: %[[COUNTS:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK: scf.for {{.*}} -> (index)
// CHECK: math.exp
// CHECK: memref.store %{{.*}}, %[[PROBS]][%{{.*}}] : memref<?xf64>
// CHECK: scf.if
// CHECK: memref.store %{{.*}}, %[[COUNTS]][%{{.*}}] : memref<?xf64>
// CHECK: scf.parallel
// CHECK: memref.load %[[COUNTS]]
// CHECK: arith.truncf %{{.*}} : f64 to f32
func.func @load_balancing_loss_grad(%l: tensor<?x?x8xf32>, %i: tensor<?x?x2xi32>, %d: tensor<f32>,
    %m: tensor<?x?xi1>) -> tensor<?x?x8xf32> {
  %0 = moa.load_balancing_loss_grad %l, %i, %d query_padding_mask(%m : tensor<?x?xi1>)
      : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  return %0 : tensor<?x?x8xf32>
}

// -----

// Router z-loss backward: 2 loss_grad / N, then per token (in parallel) the
// log-sum-exp times the softmax.
// CHECK-LABEL: func.func @router_z_loss_grad(
// CHECK: arith.constant 2.000000e+00 : f64
// CHECK: scf.parallel
// CHECK: math.log
// CHECK-NOT: math.exp
// CHECK: return
func.func @router_z_loss_grad(%l: tensor<?x?x8xf32>, %d: tensor<f32>) -> tensor<?x?x8xf32> {
  %0 = moa.router_z_loss_grad %l, %d : tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}

// -----

// Mutual information loss backward: sizes agree or report (3); a serial
// pass over the non-padded tokens sums p(e|t) into an f64 buffer, which
// becomes log p(e) = log(max(sum / max(n, 1), tiny)); then, in parallel over
// tokens, padded rows are zero-filled and the others get
// loss_grad / n * p(e|t) (g_e - sum_e' p(e'|t) g_e') with
// g_e = log p(e) - log p(e|t), in f64, rounded to f32 once.
// CHECK-LABEL: func.func @mutual_information_loss_grad(
// CHECK-DAG: %[[TINY:.*]] = arith.constant 1.000000e-300 : f64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f64
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: scf.if
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[MASK:.*]] = memref.collapse_shape %{{.*}} {{\[}}[0, 1]] : memref<?x?xi1> into memref<?xi1>
// CHECK: %[[RESULT:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c8) : memref<?x?x?xf32>
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %[[RESULT]]
// CHECK: %[[LOGMEAN:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK-NOT: scf.parallel
// CHECK: scf.for %[[T:.*]] = %c0 to %{{.*}} step %c1 {
// CHECK: memref.load %[[MASK]][%[[T]]] : memref<?xi1>
// CHECK: scf.if
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: memref.store %{{.*}}, %[[LOGMEAN]][%{{.*}}] : memref<?xf64>
// CHECK-NOT: scf.parallel
// CHECK: %[[COUNT:.*]] = scf.for {{.*}} -> (f64)
// CHECK: %[[N:.*]] = arith.maximumf %[[COUNT]], %[[ONE]] : f64
// CHECK: scf.for
// CHECK: arith.divf %{{.*}}, %[[N]] : f64
// CHECK: arith.maximumf %{{.*}}, %[[TINY]] : f64
// CHECK: math.log %{{.*}} : f64
// CHECK: memref.store %{{.*}}, %[[LOGMEAN]][%{{.*}}] : memref<?xf64>
// CHECK: %[[DLOSS:.*]] = arith.extf %{{.*}} : f32 to f64
// CHECK: %[[SCALE:.*]] = arith.divf %[[DLOSS]], %[[N]] : f64
// CHECK: scf.parallel (%[[U:.*]]) =
// CHECK: %[[PAD:.*]] = memref.load %[[MASK]][%[[U]]] : memref<?xi1>
// CHECK: scf.if %[[PAD]] {
// CHECK-NEXT: scf.for
// CHECK-NEXT: memref.store %[[ZERO]], %[[ROWS]]
// CHECK: } else {
// CHECK: %[[LSE:.*]] = arith.extf %{{.*}} : f32 to f64
// CHECK: %[[C:.*]] = scf.for {{.*}} -> (f64) {
// CHECK: memref.load %[[LOGMEAN]]
// CHECK: scf.for
// CHECK: %[[LOGP:.*]] = arith.subf %{{.*}}, %[[LSE]] : f64
// CHECK: %[[G:.*]] = arith.subf %{{.*}}, %[[LOGP]] : f64
// CHECK: %[[GC:.*]] = arith.subf %[[G]], %[[C]] : f64
// CHECK: math.exp %{{.*}} : f64
// CHECK: %[[D:.*]] = arith.mulf %[[SCALE]], %{{.*}} : f64
// CHECK: %[[D32:.*]] = arith.truncf %[[D]] : f64 to f32
// CHECK: memref.store %[[D32]], %[[ROWS]][%[[U]], %{{.*}}] : memref<?x?xf32>
// CHECK: bufferization.to_tensor %[[RESULT]] restrict writable
func.func @mutual_information_loss_grad(%l: tensor<?x?x8xf32>, %d: tensor<f32>, %m: tensor<?x?xi1>)
    -> tensor<?x?x8xf32> {
  %0 = moa.mutual_information_loss_grad %l, %d query_padding_mask(%m : tensor<?x?xi1>)
      : tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}

// -----

// Importance CV^2 loss: sizes agree or report (3); the indices are checked
// serially in [-1, E) before the importance is accumulated, a bad one
// reports ExpertIndexOutOfRange (7); the importance (index -1 skipped), its mean
// and its unbiased variance (divide by E - 1) in f64, rounded to f32 once.
// CHECK-LABEL: func.func @importance_cv_loss(
// CHECK-DAG: %[[EPS:.*]] = arith.constant 1.000000e-10 : f64
// CHECK-DAG: %[[EM1:.*]] = arith.constant 7.000000e+00 : f64
// CHECK-DAG: %[[E:.*]] = arith.constant 8.000000e+00 : f64
// CHECK: scf.if
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[IMP:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK: %[[OK:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1) {
// CHECK-DAG: arith.cmpi slt, %{{.*}}, %c8
// CHECK-DAG: arith.cmpi sge, %{{.*}}, %c-1
// CHECK: scf.if %[[OK]] {
// CHECK-NEXT: scf.for
// CHECK: arith.cmpi sge, %{{.*}}, %c0
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: arith.addf %{{.*}}, %{{.*}} : f64
// CHECK: memref.store %{{.*}}, %[[IMP]][%{{.*}}] : memref<?xf64>
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c7_i64)
// CHECK: %[[MEAN:.*]] = arith.divf %{{.*}}, %[[E]] : f64
// CHECK: %[[VAR:.*]] = arith.divf %{{.*}}, %[[EM1]] : f64
// CHECK: %[[SQ:.*]] = arith.mulf %[[MEAN]], %[[MEAN]] : f64
// CHECK: %[[DEN:.*]] = arith.addf %[[SQ]], %[[EPS]] : f64
// CHECK: %[[L:.*]] = arith.divf %[[VAR]], %[[DEN]] : f64
// CHECK: arith.truncf %[[L]] : f64 to f32
// CHECK: return
func.func @importance_cv_loss(%g: tensor<?x?x2xf32>, %i: tensor<?x?x2xi32>) -> tensor<f32> {
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  return %0 : tensor<f32>
}

// -----

// Its gradient: the same checked f64 accumulation, then every pair routed
// to an expert in [0, E) gets loss_grad * dL/dimportance_e (rounded to f32);
// pairs with index -1 keep the zero the result is filled with.
// CHECK-LABEL: func.func @importance_cv_loss_grad(
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[RESULT:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c2) : memref<?x?x?xf32>
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %[[RESULT]]
// CHECK: %[[DLOSS:.*]] = arith.extf %{{.*}} : f32 to f64
// CHECK: scf.if
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[IMP:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK: %[[OK:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1) {
// CHECK: arith.cmpi sge, %{{.*}}, %c-1
// CHECK: scf.if %[[OK]] {
// CHECK-NEXT: scf.for
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: memref.store %{{.*}}, %[[IMP]][%{{.*}}] : memref<?xf64>
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c7_i64)
// CHECK: memref.store %[[ZERO]], %[[FLAT]][%{{.*}}] : memref<?xf32>
// CHECK: scf.for
// CHECK: arith.cmpi sge, %{{.*}}, %c0
// CHECK: scf.if
// CHECK: memref.load %[[IMP]]
// CHECK: %[[D:.*]] = arith.mulf %[[DLOSS]], %{{.*}} : f64
// CHECK: %[[D32:.*]] = arith.truncf %[[D]] : f64 to f32
// CHECK: memref.store %[[D32]], %[[FLAT]][%{{.*}}] : memref<?xf32>
// CHECK: bufferization.to_tensor %[[RESULT]] restrict writable
func.func @importance_cv_loss_grad(%g: tensor<?x?x2xf32>, %i: tensor<?x?x2xi32>, %d: tensor<f32>)
    -> tensor<?x?x2xf32> {
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(8) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  return %0 : tensor<?x?x2xf32>
}

// -----

// One expert: the loss and its gradient are the constant 0 (nothing divides
// by E - 1 = 0), but the indices are still checked.
// CHECK-LABEL: func.func @importance_cv_one_expert(
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: arith.divf
// CHECK: call @moa_rt_fail(%c7_i64)
// CHECK-NOT: arith.divf
// CHECK: memref.store %[[ZERO]], %{{.*}}[] : memref<f32>
// CHECK-NOT: arith.divf
// CHECK: call @moa_rt_fail(%c7_i64)
// CHECK-NOT: arith.divf
// CHECK: memref.store %[[ZERO]], %{{.*}}[%{{.*}}] : memref<?xf32>
// CHECK-NOT: arith.divf
// CHECK: return
func.func @importance_cv_one_expert(%g: tensor<2x3x1xf32>, %i: tensor<2x3x1xi32>, %d: tensor<f32>)
    -> (tensor<f32>, tensor<2x3x1xf32>) {
  %0 = moa.importance_cv_loss %g, %i experts(1) : tensor<2x3x1xf32>, tensor<2x3x1xi32>
  %1 = moa.importance_cv_loss_grad %g, %i, %d experts(1) : tensor<2x3x1xf32>, tensor<2x3x1xi32>
  return %0, %1 : tensor<f32>, tensor<2x3x1xf32>
}

// -----

// Layer norm: rows in parallel. Its backward: chunks of rows in parallel
// into partial gamma/beta sums, then a serial sum over the chunks.
// CHECK-LABEL: func.func @layer_norm(
// CHECK: %[[Y:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c16) : memref<?x?x?xf32>
// CHECK: memref.collapse_shape %[[Y]] {{\[}}[0, 1], [2]]
// CHECK: scf.parallel
// CHECK: math.rsqrt
// CHECK: bufferization.to_tensor %[[Y]]
// CHECK: %[[DGAMMA:.*]] = memref.alloc(%c16) : memref<?xf32>
// CHECK: %[[DBETA:.*]] = memref.alloc(%c16) : memref<?xf32>
// CHECK: %[[PARTIAL:.*]] = memref.alloc(%{{.*}}, %c16) : memref<?x?xf32>
// CHECK: scf.parallel
// CHECK: math.rsqrt
// CHECK: scf.reduce
// CHECK: scf.for
// CHECK: scf.for {{.*}} -> (f32, f32)
// CHECK: memref.load %[[PARTIAL]]
// CHECK: memref.store %{{.*}}, %[[DGAMMA]]
// CHECK: memref.store %{{.*}}, %[[DBETA]]
func.func @layer_norm(%x: tensor<?x?x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>,
    %dy: tensor<?x?x16xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %0 = moa.layer_norm %x, %g, %b : tensor<?x?x16xf32>, tensor<16xf32>
  %1:3 = moa.layer_norm_grad %x, %g, %dy : tensor<?x?x16xf32>, tensor<16xf32>
  return %0, %1#0, %1#1, %1#2 : tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<16xf32>, tensor<16xf32>
}

// -----

// A 1-D input is one row.
// CHECK-LABEL: func.func @layer_norm_1d(
// CHECK: memref.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [1, %{{.*}}] : memref<?xf32> into memref<1x?xf32>
// CHECK: scf.parallel
func.func @layer_norm_1d(%x: tensor<16xf32>, %g: tensor<16xf32>) -> tensor<16xf32> {
  %0 = moa.layer_norm %x, %g, %g : tensor<16xf32>, tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

// Embedding: ids checked in [0, V) before the gather, parallel over rows
// from 64 rows on (fewer run on the calling thread); its backward adds rows
// serially (repeated ids), also after the check.
// CHECK-LABEL: func.func @embedding(
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1)
// CHECK: arith.cmpi slt, %{{.*}}, %c32
// CHECK: scf.if
// CHECK-NEXT: %[[FEW:.*]] = arith.cmpi ult, %{{.*}}, %c64 : index
// CHECK-NEXT: scf.if %[[FEW]] {
// CHECK-NEXT: scf.for
// CHECK: } else {
// CHECK-NEXT: scf.parallel
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c5_i64)
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[DT:.*]] = memref.alloc(%c32, %c16) : memref<?x?xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1)
// CHECK: scf.if
// CHECK-NOT: scf.parallel
// CHECK: memref.store %{{.*}}, %[[DT]]
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c5_i64)
// CHECK: bufferization.to_tensor %[[DT]]
func.func @embedding(%ids: tensor<?x?xi32>, %t: tensor<32x16xf32>, %dx: tensor<?x?x16xf32>)
    -> (tensor<?x?x16xf32>, tensor<32x16xf32>) {
  %0 = moa.embedding %ids, %t : tensor<?x?xi32>, tensor<32x16xf32> -> tensor<?x?x16xf32>
  %1 = moa.embedding_grad %ids, %t, %dx : tensor<?x?xi32>, tensor<32x16xf32>, tensor<?x?x16xf32>
  return %0, %1 : tensor<?x?x16xf32>, tensor<32x16xf32>
}

// -----

// Cross-entropy: the labelled tokens counted in f64, targets checked in
// [-1, V) (a bad one reports TargetOutOfRange, 8), per-row losses in
// parallel, their mean serially in f64. The backward has the same checks.
// CHECK-LABEL: func.func @cross_entropy(
// CHECK: scf.for {{.*}} -> (f64)
// CHECK: %[[LOSS:.*]] = memref.alloc() : memref<f32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1)
// CHECK: arith.cmpi sge, %{{.*}}, %c-1
// CHECK: scf.parallel
// CHECK: math.log
// CHECK: scf.for {{.*}} -> (f64)
// CHECK: memref.store %{{.*}}, %[[LOSS]][] : memref<f32>
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c8_i64)
// CHECK: bufferization.to_tensor %[[LOSS]]
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %true) -> (i1)
// CHECK: scf.parallel
// CHECK: } else {
// CHECK-NEXT: call @moa_rt_fail(%c8_i64)
// CHECK-NOT: math.exp
// CHECK: return
func.func @cross_entropy(%l: tensor<?x?x32xf32>, %t: tensor<?x?xi32>, %d: tensor<f32>)
    -> (tensor<f32>, tensor<?x?x32xf32>) {
  %0 = moa.cross_entropy %l, %t : tensor<?x?x32xf32>, tensor<?x?xi32>
  %1 = moa.cross_entropy_grad %l, %t, %d : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %0, %1 : tensor<f32>, tensor<?x?x32xf32>
}

// -----

// Optimizer: the global norm sums squares in f64 over every input (a 0-d
// one too) serially; AdamW computes the schedule, clipping and bias
// corrections once in f64, then updates chunks of elements in parallel.
// CHECK-LABEL: func.func @optimizer(
// CHECK: scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args(%{{.*}} = %cst{{.*}}) -> (f64)
// CHECK: scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args
// CHECK: memref.expand_shape %{{.*}} [] output_shape [1] : memref<f32> into memref<1xf32>
// CHECK: %[[SUM:.*]] = scf.for %{{.*}} = %c0 to %c1
// CHECK: math.sqrt %[[SUM]] : f64
// Warm-up: lr * min(step / w, sqrt(w / max(step, 1))).
// CHECK: arith.minimumf %{{.*}}, %{{.*}} : f64
// Clipping: min(1, max_grad_norm / (norm + 1e-6)).
// CHECK: arith.minimumf %{{.*}}, %{{.*}} : f64
// CHECK: math.powf
// CHECK: math.powf
// CHECK: scf.parallel
// CHECK: math.sqrt %{{.*}} : f32
// CHECK: scf.reduce
func.func @optimizer(%p: tensor<8x4xf32>, %g: tensor<8x4xf32>, %m: tensor<8x4xf32>,
    %v: tensor<8x4xf32>, %s: tensor<f32>, %b: tensor<4xf32>, %c: tensor<f32>)
    -> (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>) {
  %n = moa.global_norm %g, %b, %c : tensor<8x4xf32>, tensor<4xf32>, tensor<f32>
  %0:3 = moa.adamw %p, %g, %m, %v step(%s) norm(%n)
      {lr = 1.0e-3 : f32, warmup_steps = 10 : i64, max_grad_norm = 1.0 : f32}
      : tensor<8x4xf32>
  return %0#0, %0#1, %0#2 : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>
}

// -----

// Constant rate, no clipping: neither min is emitted.
// CHECK-LABEL: func.func @adamw_plain(
// CHECK-NOT: arith.minimumf
// CHECK: math.powf
// CHECK-NOT: arith.minimumf
// CHECK: scf.parallel
func.func @adamw_plain(%p: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xf32> {
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32} : tensor<8xf32>
  return %0#0 : tensor<8xf32>
}

// -----

// Weight gradient of a row projection (as moa-generate-gradients emits it):
// out[c, n] = init + x^T g, chunks of rows c in parallel, one GEMM each with
// A transposed and beta 1.
// CHECK-LABEL: func.func @weight_gradient(
// CHECK-NOT: linalg.contract
// CHECK: %[[OUT:.*]] = memref.alloc(%c16, %c8) : memref<?x?xf32>
// CHECK: scf.parallel
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %cst, %cst, %c2_i64, %{{.*}})
// CHECK: bufferization.to_tensor %[[OUT]]
func.func @weight_gradient(%x: tensor<?x?x16xf32>, %g: tensor<?x?x8xf32>) -> tensor<16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<16x8xf32>) -> tensor<16x8xf32>
  %0 = linalg.contract indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>,
                                        affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>,
                                        affine_map<(d0, d1, d2, d3) -> (d2, d3)>]
      ins(%x, %g : tensor<?x?x16xf32>, tensor<?x?x8xf32>) outs(%f : tensor<16x8xf32>) -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

// The same on bf16 x and g: g^T per batch (bf16) and x packed per batch, then
// per chunk of rows c the sum over batches of bf16 GEMMs g[b]^T x[b][:, c0:c1]
// (the first writes, the others add) into dW^T, read back transposed.
// CHECK-LABEL: func.func @weight_gradient_bf16(
// CHECK-NOT: linalg.contract
// CHECK: %[[GT:.*]] = memref.alloc({{.*}}) : memref<?x?x?xbf16>
// CHECK: call @moa_rt_pack_bf16({{.*}}, %c0_i64)
// CHECK: %[[DWT:.*]] = memref.alloc({{.*}}) : memref<?x?xf32>
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: call @moa_rt_bf16_gemm({{.*}}, %cst{{.*}}, %c0, %{{.*}})
// CHECK: call @moa_rt_bf16_gemm({{.*}}, %cst{{.*}}, %c0, %{{.*}})
// CHECK: memref.load %[[DWT]]
// CHECK-NOT: moa_rt_sgemm
func.func @weight_gradient_bf16(%x: tensor<?x?x16xbf16>, %g: tensor<?x?x8xbf16>) -> tensor<16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<16x8xf32>) -> tensor<16x8xf32>
  %0 = linalg.contract indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>,
                                        affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>,
                                        affine_map<(d0, d1, d2, d3) -> (d2, d3)>]
      ins(%x, %g : tensor<?x?x16xbf16>, tensor<?x?x8xbf16>) outs(%f : tensor<16x8xf32>) -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

// A 0-d parameter is updated through a [1] view.
// CHECK-LABEL: func.func @adamw_scalar(
// CHECK: memref.expand_shape {{.*}} [] output_shape [1] : memref<f32> into memref<1xf32>
// CHECK: scf.parallel
func.func @adamw_scalar(%p: tensor<f32>, %s: tensor<f32>) -> tensor<f32> {
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32} : tensor<f32>
  return %0#0 : tensor<f32>
}

// -----

// AdamW on buffers (as One-Shot Bufferize leaves it): no result buffers;
// each element of the parameter and both moments is read, then overwritten.
// CHECK-LABEL: func.func @adamw_in_place(
// CHECK-SAME: %[[P:[^:]*]]: memref<8xf32>, %[[G:[^:]*]]: memref<8xf32>, %[[M:[^:]*]]: memref<8xf32>, %[[V:[^:]*]]: memref<8xf32>
// CHECK-NOT: memref.alloc(
// CHECK: scf.parallel
// CHECK: memref.load %[[M]][%[[I:.*]]]
// CHECK: memref.load %[[V]][%[[I]]]
// CHECK: memref.load %[[P]][%[[I]]]
// CHECK: memref.store %{{.*}}, %[[P]][%[[I]]]
// CHECK-NEXT: memref.store %{{.*}}, %[[M]][%[[I]]]
// CHECK-NEXT: memref.store %{{.*}}, %[[V]][%[[I]]]
// CHECK-NOT: moa.adamw
// CHECK: return
func.func @adamw_in_place(%p: memref<8xf32>, %g: memref<8xf32>, %m: memref<8xf32>,
    %v: memref<8xf32>, %s: memref<f32>) {
  moa.adamw %p, %g, %m, %v step(%s) norm(%s) {lr = 1.0e-3 : f32} : memref<8xf32>
  return
}

// -----

// Given the forward's log-sum-exp, the backward reads it instead of making
// its first pass over the keys: five GEMMs per key block (S, dP, dV, dQ,
// dK) instead of six, and no logarithm.
// CHECK-LABEL: func.func @multi_query_attention_grad_lse(
// CHECK-NOT: math.log
// CHECK-COUNT-5: call @moa_rt_sgemm
// CHECK-NOT: call @moa_rt_sgemm
// CHECK-NOT: math.log
// CHECK: return
func.func @multi_query_attention_grad_lse(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>,
    %v: tensor<?x?x8xf32>, %o: tensor<?x?x2x8xf32>, %do: tensor<?x?x2x8xf32>, %lse: tensor<?x?x2xf32>)
    -> (tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %o, %do lse(%lse : tensor<?x?x2xf32>)
      {causal} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return %0#0, %0#1, %0#2 : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
