// RUN: moa-opt %s -split-input-file -moa-lower-to-loops | FileCheck %s

// Routing: a parallel loop over (batch, token) that selects and gates in
// f32, then the head-usage hook.
// CHECK-LABEL: func.func @route
// CHECK: %[[IDX:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xi32>
// CHECK: %[[GATES:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: arith.cmpf ogt
// CHECK-NOT: math.exp
// CHECK: call @moa_rt_record_routing(%[[IDX]], %{{.*}}) : (memref<?x?x?xi32>, i64) -> ()
// CHECK: bufferization.to_tensor %[[IDX]] restrict writable
// CHECK: bufferization.to_tensor %[[GATES]] restrict writable
func.func @route(%l: tensor<?x?x8xf32>) -> (tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x8xf32>
  return %i, %g : tensor<?x?x2xi32>, tensor<?x?x2xf32>
}

// -----

// moa.project_route on the CPU: the projection's GEMM, then the routing loop.
// CHECK-LABEL: func.func @project_route
// CHECK-NOT: moa.project_route
// CHECK: call @moa_rt_sgemm
// CHECK: scf.parallel
// CHECK: arith.cmpf ogt
// CHECK: call @moa_rt_record_routing
func.func @project_route(%x: tensor<?x?x16xf32>, %wg: tensor<16x8xf32>)
    -> (tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %l, %i, %g = moa.project_route %x, %wg k(2) : tensor<?x?x16xf32>, tensor<16x8xf32>
  return %l, %i, %g : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
}

// -----

// moa.key_value_projection: one parallel loop over row tiles, both GEMMs
// (no accumulation: beta 0) on each tile of the input.
// CHECK-LABEL: func.func @key_value
// CHECK: %[[BETA:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[K:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: %[[V:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel
// CHECK: call @moa_rt_sgemm({{.*}}, %[[BETA]], %{{.*}})
// CHECK: call @moa_rt_sgemm({{.*}}, %[[BETA]], %{{.*}})
// CHECK: scf.reduce
// CHECK-NOT: moa_rt_sgemm
// CHECK: bufferization.to_tensor %[[K]] restrict writable
// CHECK: bufferization.to_tensor %[[V]] restrict writable
func.func @key_value(%x: tensor<?x?x16xf32>, %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>)
    -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %k, %v = moa.key_value_projection %x, %wk, %wv : tensor<?x?x16xf32>, tensor<16x8xf32>
  return %k, %v : tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// Dispatch: counting sort in three sequential loops; bad indices report.
// CHECK-LABEL: func.func @dispatch
// CHECK: memref.collapse_shape %{{.*}} {{\[}}[0, 1, 2]] : memref<?x?x?xi32> into memref<?xi32>
// CHECK-COUNT-3: scf.for
// CHECK: scf.if
// CHECK: call @moa_rt_fail
func.func @dispatch(%i: tensor<?x?x2xi32>) -> (tensor<?xi32>, tensor<9xi32>) {
  %p, %o = moa.dispatch %i experts(8) : tensor<?x?x2xi32>
  return %p, %o : tensor<?xi32>, tensor<9xi32>
}

// -----

// Grouped matmul: tiles in parallel, one GEMM per tile on 2-D views, which
// names the weight of the next tile's expert for the runtime to prefetch
// (the last tile names its own).
// CHECK-LABEL: func.func @grouped_matmul
// CHECK: scf.parallel (%[[TILE:.*]]) = (%c0) to (%[[TILES:.*]]) step
// CHECK: %[[EX:.*]] = memref.load %[[MAP:.*]][%[[TILE]], %c0] : memref<?x?xindex>
// CHECK-DAG: %[[LAST:.*]] = arith.subi %[[TILES]], %c1 : index
// CHECK-DAG: %[[AFTER:.*]] = arith.addi %[[TILE]], %c1 : index
// CHECK: %[[NEXT:.*]] = arith.minsi %[[AFTER]], %[[LAST]] : index
// CHECK: %[[NEXTEX:.*]] = memref.load %[[MAP]][%[[NEXT]], %c0]
// CHECK: %[[NEXTW:.*]] = memref.subview %[[W:.*]][%[[NEXTEX]], %c0, 0]
// CHECK: %[[WEX:.*]] = memref.subview %[[W]][%[[EX]], %c0, 0]
// CHECK: call @moa_rt_sgemm(%{{.*}}, %[[WEX]], %{{.*}}, %{{.*}}, %{{.*}}, %c0_i64, %[[NEXTW]]) : (memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, f32, f32, i64, memref<?x?xf32, strided<[?, 1], offset: ?>>) -> ()
// CHECK: scf.parallel
func.func @grouped_matmul(%x: tensor<?x?x16xf32>, %w: tensor<4x16x8xf32>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x8xf32> {
  %y = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x2xf32>)
      : (tensor<?x?x16xf32>, tensor<4x16x8xf32>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// bf16 input and weights: each expert's weight packed once (in parallel over
// experts and ranges of rows), the tile's rows gathered in bf16, one
// moa_rt_bf16_gemm per tile with the expert's packed weight.
// CHECK-LABEL: func.func @grouped_matmul_bf16
// CHECK: %[[SORTED:.*]] = memref.alloc({{.*}}) : memref<?x?xbf16>
// CHECK: %[[PACKED:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel
// CHECK: call @moa_rt_pack_bf16
// CHECK: scf.parallel
// CHECK-NOT: arith.extf
// CHECK: memref.store %{{.*}}, %[[SORTED]]
// CHECK: %[[A:.*]] = memref.subview %[[SORTED]][
// CHECK: %[[W:.*]] = memref.subview %[[PACKED]][
// CHECK: call @moa_rt_bf16_gemm(%[[A]], %[[W]], %{{.*}}, %{{.*}}, %c0, %c0) : (memref<?x?xbf16, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, f32, index, index) -> ()
// CHECK-NOT: call @moa_rt_sgemm
// CHECK: return
func.func @grouped_matmul_bf16(%x: tensor<?x?x16xbf16>, %w: tensor<4x16x8xbf16>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x8xbf16> {
  %y = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x2xf32>)
      : (tensor<?x?x16xbf16>, tensor<4x16x8xbf16>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x8xbf16>
  return %y : tensor<?x?x8xbf16>
}

// -----

// Attention: K^T scaled and transposed once (in parallel over the batch and
// blocks of keys), then per tile Q (scale K^T) as a GEMM with B read in place,
// softmax with the exponential as a polynomial (no math.exp left), then P V.
// CHECK-LABEL: func.func @attention
// CHECK: %[[SCALE:.*]] = math.rsqrt
// CHECK: scf.parallel (%[[B:.*]], %{{.*}}) =
// CHECK: %[[K:.*]] = memref.load %{{.*}}[%[[B]], %[[S:.*]], %[[C:.*]]] : memref<?x?x8xf32>
// CHECK: %[[SCALED:.*]] = arith.mulf %[[SCALE]], %[[K]]
// CHECK: memref.store %[[SCALED]], %{{.*}}[%[[B]], %[[C]], %[[S]]]
// CHECK: scf.parallel
// CHECK: call @moa_rt_sgemm({{.*}}, %c0_i64{{.*}})
// CHECK-NOT: math.exp
// CHECK: call @moa_rt_sgemm({{.*}}, %c0_i64{{.*}})
func.func @attention(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x8xf32>)
    -> tensor<?x?x2x8xf32> {
  %o = moa.multi_query_attention %q, %k, %v {causal} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return %o : tensor<?x?x2x8xf32>
}

// -----

// bf16 query and key: K^T (unscaled) packed per batch once, straight from K
// (moa_rt_pack_bf16, transposed); per key block, the scores by
// moa_rt_bf16_gemm from the block's first column of K^T, then scaled; the
// softmax and P V in f32 (V widened); the result narrowed.
// CHECK-LABEL: func.func @attention_bf16
// CHECK-NOT: memref.alloc({{.*}}) : memref<?x?x?xbf16>
// CHECK: %[[KTP:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: call @moa_rt_pack_bf16({{.*}}, %c1_i64)
// CHECK: scf.parallel
// CHECK: scf.for %[[BLOCK:.*]] = %{{.*}} to
// CHECK: %[[FIRST:.*]] = arith.muli %[[BLOCK]]
// CHECK: %[[KTB:.*]] = memref.subview %[[KTP]]
// CHECK: call @moa_rt_bf16_gemm(%{{.*}}, %[[KTB]], %{{.*}}, %{{.*}}, %{{.*}}, %[[FIRST]])
// CHECK: arith.mulf
// CHECK: call @moa_rt_sgemm
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @attention_bf16(%q: tensor<2x3x2x8xbf16>, %k: tensor<2x5x8xbf16>, %v: tensor<2x5x8xbf16>)
    -> tensor<2x3x2x8xbf16> {
  %o = moa.multi_query_attention %q, %k, %v : tensor<2x3x2x8xbf16>, tensor<2x5x8xbf16>, tensor<2x5x8xbf16>
  return %o : tensor<2x3x2x8xbf16>
}

// -----

// Mutual information loss: mask and logits sizes agree or report (3); one
// serial loop over the tokens (no scf.parallel) that skips padded tokens,
// counts the others and, in f64, accumulates the conditional entropy and the
// summed p(e|t) (zero-filled f64 buffer); then H(E) of p(e) = sum / max(n, 1)
// (0 log 0 guarded), and the loss, 0 when no token counted, rounded to f32
// once.
// CHECK-LABEL: func.func @mutual_information_loss(
// CHECK-DAG: %[[TINY:.*]] = arith.constant 1.000000e-300 : f64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f64
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK: scf.if
// CHECK: call @moa_rt_fail_sizes(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, i64, memref<?xi8>, i64) -> ()
// CHECK: %[[MASK:.*]] = memref.collapse_shape %{{.*}} {{\[}}[0, 1]] : memref<?x?xi1> into memref<?xi1>
// CHECK: %[[SUM:.*]] = memref.alloc(%c8) : memref<?xf64>
// CHECK: scf.for
// CHECK-NEXT: memref.store %[[ZERO]], %[[SUM]]
// CHECK-NOT: scf.parallel
// CHECK: %[[ACC:.*]]:2 = scf.for %[[T:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[H:.*]] = %[[ZERO]], %[[N:.*]] = %c0) -> (f64, index) {
// CHECK: %[[PAD:.*]] = memref.load %[[MASK]][%[[T]]] : memref<?xi1>
// CHECK: scf.if %[[PAD]] -> (f64, index) {
// CHECK-NEXT: scf.yield %[[H]], %[[N]] : f64, index
// CHECK-NEXT: } else {
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f64
// CHECK: math.exp %{{.*}} : f64
// CHECK: %[[LOGSUM:.*]] = math.log %{{.*}} : f64
// CHECK: %[[LSE:.*]] = arith.addf %{{.*}}, %[[LOGSUM]] : f64
// CHECK: %[[LOGP:.*]] = arith.subf %{{.*}}, %[[LSE]] : f64
// CHECK: %[[P:.*]] = math.exp %[[LOGP]] : f64
// CHECK: memref.store %{{.*}}, %[[SUM]][%{{.*}}] : memref<?xf64>
// CHECK: arith.mulf %[[P]], %[[LOGP]] : f64
// CHECK: arith.addi %[[N]], %c1 : index
// CHECK: %[[NF:.*]] = arith.uitofp %{{.*}} : i64 to f64
// CHECK: %[[DIV:.*]] = arith.maximumf %[[NF]], %[[ONE]] : f64
// CHECK: %[[HE:.*]] = scf.for
// CHECK: %[[PE:.*]] = arith.divf %{{.*}}, %[[DIV]] : f64
// CHECK: arith.maximumf %[[PE]], %[[TINY]] : f64
// CHECK: math.log %{{.*}} : f64
// CHECK: %[[HET:.*]] = arith.divf %[[ACC]]#0, %[[DIV]] : f64
// CHECK: %[[L:.*]] = arith.subf %[[HET]], %[[HE]] : f64
// CHECK: %[[NONE:.*]] = arith.cmpi eq, %[[ACC]]#1, %c0 : index
// CHECK: %[[LOSS:.*]] = arith.select %[[NONE]], %[[ZERO]], %[[L]] : f64
// CHECK: arith.truncf %[[LOSS]] : f64 to f32
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @mutual_information_loss(%l: tensor<?x?x8xf32>, %m: tensor<?x?xi1>) -> tensor<f32> {
  %0 = moa.mutual_information_loss %l query_padding_mask(%m : tensor<?x?xi1>) : tensor<?x?x8xf32>
  return %0 : tensor<f32>
}

// -----

// Without a mask every token counts: no size check can fail and no branch.
// CHECK-LABEL: func.func @mutual_information_loss_unmasked(
// CHECK-NOT: memref<?xi1>
// CHECK: scf.for {{.*}} -> (f64, index) {
// CHECK-NOT: scf.if
// CHECK: arith.truncf %{{.*}} : f64 to f32
func.func @mutual_information_loss_unmasked(%l: tensor<2x3x4xf32>) -> tensor<f32> {
  %0 = moa.mutual_information_loss %l : tensor<2x3x4xf32>
  return %0 : tensor<f32>
}

// -----

// A cf.assert reports its message through the runtime instead of aborting.
// CHECK-LABEL: func.func @assertion(
// CHECK-SAME: %[[OK:.*]]: i1
// CHECK: %[[TRUE:.*]] = arith.constant true
// CHECK: %[[FAILED:.*]] = arith.xori %[[OK]], %[[TRUE]] : i1
// CHECK: scf.if %[[FAILED]] {
// CHECK-NEXT: %[[TEXT:.*]] = memref.get_global @__moa_text_{{.*}} : memref<12xi8>
// CHECK-NEXT: %[[CAST:.*]] = memref.cast %[[TEXT]] : memref<12xi8> to memref<?xi8>
// CHECK-NEXT: call @moa_rt_fail_message(%[[CAST]]) : (memref<?xi8>) -> ()
// CHECK: }
// CHECK-NOT: cf.assert
func.func @assertion(%ok: i1) {
  cf.assert %ok, "sizes differ"
  return
}

// -----

// With `with_lse` each row's log-sum-exp, max + log(sum) or -inf where the
// row saw no key, is written with the normalised output: the second result.
// CHECK-LABEL: func.func @multi_query_attention_lse(
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[LSE:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %c2) : memref<?x?x?xf32>
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %[[LSE]] {{\[}}[0], [1, 2]]
// CHECK: %[[SEEN:.*]] = arith.cmpf ugt, %[[SUM:.*]], %{{.*}} : f32
// CHECK: %[[LOG:.*]] = math.log %[[SUM]] : f32
// CHECK: %[[MAX:.*]] = memref.load
// CHECK: %[[VALUE:.*]] = arith.addf %[[MAX]], %[[LOG]] : f32
// CHECK: %[[OUT:.*]] = arith.select %[[SEEN]], %[[VALUE]], %[[NEGINF]] : f32
// CHECK: memref.store %[[OUT]], %[[ROWS]]
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[LSE]]
// CHECK: %[[C:.*]] = tensor.cast %[[T]] : tensor<?x?x?xf32> to tensor<?x?x2xf32>
// CHECK: return %{{.*}}, %[[C]]
func.func @multi_query_attention_lse(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x8xf32>)
    -> (tensor<?x?x2x8xf32>, tensor<?x?x2xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v {with_lse} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return %o, %lse : tensor<?x?x2x8xf32>, tensor<?x?x2xf32>
}
