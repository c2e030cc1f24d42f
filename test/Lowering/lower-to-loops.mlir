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

// Grouped matmul: tiles in parallel, one GEMM per tile on 2-D views.
// CHECK-LABEL: func.func @grouped_matmul
// CHECK: scf.parallel
// CHECK: memref.subview
// CHECK: call @moa_rt_sgemm(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i64{{.*}}) : (memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, f32, f32, i64) -> ()
// CHECK: scf.parallel
func.func @grouped_matmul(%x: tensor<?x?x16xf32>, %w: tensor<4x16x8xf32>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x8xf32> {
  %y = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x2xf32>)
      : (tensor<?x?x16xf32>, tensor<4x16x8xf32>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// Attention: Q K^T as a GEMM with B transposed, softmax with the exponential
// as a polynomial (no math.exp left), then P V.
// CHECK-LABEL: func.func @attention
// CHECK: scf.parallel
// CHECK: call @moa_rt_sgemm({{.*}}, %c1_i64{{.*}})
// CHECK-NOT: math.exp
// CHECK: call @moa_rt_sgemm({{.*}}, %c0_i64{{.*}})
func.func @attention(%q: tensor<?x?x2x8xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x8xf32>)
    -> tensor<?x?x2x8xf32> {
  %o = moa.multi_query_attention %q, %k, %v {causal} : tensor<?x?x2x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
  return %o : tensor<?x?x2x8xf32>
}

// -----

// bf16 operands are widened to f32 around the code and the result narrowed.
// CHECK-LABEL: func.func @attention_bf16
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: call @moa_rt_sgemm
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @attention_bf16(%q: tensor<2x3x2x8xbf16>, %k: tensor<2x5x8xbf16>, %v: tensor<2x5x8xbf16>)
    -> tensor<2x3x2x8xbf16> {
  %o = moa.multi_query_attention %q, %k, %v : tensor<2x3x2x8xbf16>, tensor<2x5x8xbf16>, tensor<2x5x8xbf16>
  return %o : tensor<2x3x2x8xbf16>
}
