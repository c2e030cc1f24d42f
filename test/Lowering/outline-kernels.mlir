// RUN: moa-opt %s -split-input-file -moa-outline-kernels | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-outline-kernels -moa-outline-kernels | FileCheck %s

// Two layers' routing ops alike in attributes and types share one private,
// never-inlined, internal function; the one with another k gets its own.
// Arguments are the op's operands, results its results.
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: (%[[A:.*]]: memref<?x?x8xf32>, %[[B:.*]]: memref<?x?x8xf32>)
// CHECK: %[[R0:.*]]:2 = call @moa_route(%[[A]]) : (memref<?x?x8xf32>) -> (memref<?x?x2xi32>, memref<?x?x2xf32>)
// CHECK: %[[R1:.*]]:2 = call @moa_route(%[[B]])
// CHECK: %[[R2:.*]]:2 = call @moa_route_0(%[[B]]) : (memref<?x?x8xf32>) -> (memref<?x?x3xi32>, memref<?x?x3xf32>)
// CHECK: return %[[R0]]#0, %[[R1]]#1, %[[R2]]#0
// CHECK: func.func private @moa_route(%[[L:.*]]: memref<?x?x8xf32>) -> (memref<?x?x2xi32>, memref<?x?x2xf32>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>, no_inline, passthrough = ["noinline"]}
// CHECK-NEXT: %[[I:.*]], %[[G:.*]] = moa.route %[[L]] k(2) : memref<?x?x8xf32>
// CHECK-NEXT: return %[[I]], %[[G]]
// CHECK: func.func private @moa_route_0
// CHECK-NEXT: moa.route %{{.*}} k(3)
// CHECK-NOT: func.func
func.func @two_layers(%a: memref<?x?x8xf32>, %b: memref<?x?x8xf32>)
    -> (memref<?x?x2xi32>, memref<?x?x2xf32>, memref<?x?x3xi32>) {
  %i0, %g0 = moa.route %a k(2) : memref<?x?x8xf32>
  %i1, %g1 = moa.route %b k(2) : memref<?x?x8xf32>
  %i2, %g2 = moa.route %b k(3) : memref<?x?x8xf32>
  return %i0, %g1, %i2 : memref<?x?x2xi32>, memref<?x?x2xf32>, memref<?x?x3xi32>
}

// -----

// Linalg ops on buffers move with their scalar operands; one whose body
// reads a value from the function stays where it is, as do ops on tensors.
// CHECK-LABEL: func.func @linalg_ops
// CHECK-SAME: (%[[X:.*]]: memref<4x8xf32>, %[[Y:.*]]: memref<8x4xf32>, %[[S:.*]]: f32, %[[T:.*]]: tensor<4xf32>)
// CHECK: call @linalg_fill(%[[S]], %[[X]]) : (f32, memref<4x8xf32>) -> ()
// CHECK: call @linalg_transpose(%[[X]], %[[Y]])
// CHECK: linalg.generic
// CHECK: linalg.fill ins(%[[S]] : f32) outs(%[[T]] : tensor<4xf32>)
// CHECK: func.func private @linalg_fill(%[[V:.*]]: f32, %[[O:.*]]: memref<4x8xf32>)
// CHECK-NEXT: linalg.fill ins(%[[V]] : f32) outs(%[[O]] : memref<4x8xf32>)
// CHECK-NEXT: return
// CHECK: func.func private @linalg_transpose
// CHECK-NEXT: linalg.transpose
#id = affine_map<(i, j) -> (i, j)>
func.func @linalg_ops(%x: memref<4x8xf32>, %y: memref<8x4xf32>, %s: f32,
                      %t: tensor<4xf32>) -> tensor<4xf32> {
  linalg.fill ins(%s : f32) outs(%x : memref<4x8xf32>)
  linalg.transpose ins(%x : memref<4x8xf32>) outs(%y : memref<8x4xf32>)
      permutation = [1, 0]
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%x : memref<4x8xf32>) {
  ^bb0(%out: f32):
    linalg.yield %s : f32
  }
  %f = linalg.fill ins(%s : f32) outs(%t : tensor<4xf32>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}

// -----

// Two linalg.generic ops with the same maps and types but different bodies
// are two kernels; a third like the first shares its function.
// CHECK-LABEL: func.func @bodies_differ
// CHECK: call @linalg_generic(%{{.*}}, %{{.*}})
// CHECK: call @linalg_generic_0(%{{.*}}, %{{.*}})
// CHECK: call @linalg_generic(%{{.*}}, %{{.*}})
// CHECK: func.func private @linalg_generic(
// CHECK: arith.addf
// CHECK: func.func private @linalg_generic_0(
// CHECK: arith.mulf
// CHECK-NOT: func.func
#id = affine_map<(i) -> (i)>
func.func @bodies_differ(%x: memref<8xf32>, %y: memref<8xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : memref<8xf32>) outs(%y : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : memref<8xf32>) outs(%y : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %p = arith.mulf %in, %out : f32
    linalg.yield %p : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%y : memref<8xf32>) outs(%x : memref<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// An op that takes one buffer twice (in place) and one that takes two
// share a function whose operands are its arguments in order.
// CHECK-LABEL: func.func @in_place_first
// CHECK-SAME: (%[[X:.*]]: memref<8xf32>, %[[Y:.*]]: memref<8xf32>)
// CHECK: call @linalg_add(%[[X]], %[[Y]], %[[X]])
// CHECK: call @linalg_add(%[[Y]], %[[Y]], %[[X]])
// CHECK: func.func private @linalg_add(%[[A:.*]]: memref<8xf32>, %[[B:.*]]: memref<8xf32>, %[[C:.*]]: memref<8xf32>)
// CHECK-NEXT: linalg.add ins(%[[A]], %[[B]] : memref<8xf32>, memref<8xf32>) outs(%[[C]] : memref<8xf32>)
func.func @in_place_first(%x: memref<8xf32>, %y: memref<8xf32>) {
  linalg.add ins(%x, %y : memref<8xf32>, memref<8xf32>) outs(%x : memref<8xf32>)
  linalg.add ins(%y, %y : memref<8xf32>, memref<8xf32>) outs(%x : memref<8xf32>)
  return
}
