// RUN: moa-opt %s -split-input-file -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -moa-lower-to-loops | FileCheck %s

// After One-Shot Bufferize the lowering works on the buffer form: operands
// are the function's memrefs, results the buffers the loops write, and no
// bufferization.to_buffer / to_tensor is left.
// CHECK-LABEL: func.func @route
// CHECK-SAME: (%[[L:.*]]: memref<?x?x8xf32>) -> (memref<?x?x2xi32>, memref<?x?x2xf32>)
// CHECK-NOT: bufferization.to_
// CHECK: %[[IDX:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xi32>
// CHECK: %[[GATES:.*]] = memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel
// CHECK: call @moa_rt_record_routing(%[[IDX]], %{{.*}})
// CHECK: %[[I:.*]] = memref.cast %[[IDX]] : memref<?x?x?xi32> to memref<?x?x2xi32>
// CHECK: %[[G:.*]] = memref.cast %[[GATES]] : memref<?x?x?xf32> to memref<?x?x2xf32>
// CHECK-NOT: bufferization.to_
// CHECK: return %[[I]], %[[G]]
func.func @route(%l: tensor<?x?x8xf32>) -> (tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x8xf32>
  return %i, %g : tensor<?x?x2xi32>, tensor<?x?x2xf32>
}

// -----

// A bf16 projection multiplies bf16 rows by bf16 weights with f32 sums: each
// weight is packed once for moa_rt_bf16_gemm (in parallel over ranges of its
// rows), the GEMMs read the tile's input rows where they are, and each
// result's rows are narrowed into its bf16 buffer while still in cache.
// CHECK-LABEL: func.func @key_value_bf16
// CHECK-SAME: (%[[X:[^:]*]]: memref<?x?x16xbf16>
// CHECK-NOT: bufferization.to_
// CHECK: %[[XROWS:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : memref<?x?x?xbf16> into memref<?x?xbf16>
// CHECK: %[[KWIDE:.*]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: %[[KNARROW:.*]] = memref.alloc({{.*}}) : memref<?x?x?xbf16>
// CHECK: %[[KW:.*]] = memref.collapse_shape %[[KWIDE]]
// CHECK: %[[KN:.*]] = memref.collapse_shape %[[KNARROW]]
// CHECK: %[[VNARROW:.*]] = memref.alloc({{.*}}) : memref<?x?x?xbf16>
// CHECK: %[[KPACKED:.*]] = memref.alloc({{.*}}) : memref<?x?xf32>
// CHECK: scf.parallel
// CHECK: call @moa_rt_pack_bf16({{.*}}, %c0_i64) : (memref<?x?xbf16, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, index, index, i64)
// CHECK: %[[VPACKED:.*]] = memref.alloc({{.*}}) : memref<?x?xf32>
// CHECK: call @moa_rt_pack_bf16
// CHECK: scf.parallel
// CHECK-NOT: arith.extf
// CHECK: %[[A:.*]] = memref.subview %[[XROWS]][
// CHECK: %[[P:.*]] = memref.cast %[[KPACKED]]
// CHECK: call @moa_rt_bf16_gemm(%[[A]], %[[P]],
// CHECK: %[[KV:.*]] = memref.load %[[KW]]
// CHECK: %[[KT:.*]] = arith.truncf %[[KV]] : f32 to bf16
// CHECK: memref.store %[[KT]], %[[KN]]
// CHECK: call @moa_rt_bf16_gemm
// CHECK: arith.truncf
// CHECK: scf.reduce
// CHECK: %[[K:.*]] = memref.cast %[[KNARROW]]
// CHECK: %[[V:.*]] = memref.cast %[[VNARROW]]
// CHECK: return %[[K]], %[[V]] : memref<?x?x8xbf16>, memref<?x?x8xbf16>
func.func @key_value_bf16(%x: tensor<?x?x16xbf16>, %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>)
    -> (tensor<?x?x8xbf16>, tensor<?x?x8xbf16>) {
  %k, %v = moa.key_value_projection %x, %wk, %wv : tensor<?x?x16xbf16>, tensor<16x8xbf16>
  return %k, %v : tensor<?x?x8xbf16>, tensor<?x?x8xbf16>
}

// -----

// CHECK-LABEL: func.func @projection
// CHECK-SAME: %[[INIT:[^:]*]]: memref<2x5x8xf32>
// CHECK-NOT: linalg.contract
// CHECK: call @moa_rt_sgemm
// CHECK: memref.copy %{{.*}}, %[[INIT]]
#rows = affine_map<(b, t, n, c) -> (b, t, c)>
#weight = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @projection(%x: tensor<2x5x16xf32>, %w: tensor<16x8xf32>, %init: tensor<2x5x8xf32>)
    -> tensor<2x5x8xf32> {
  %y = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %w : tensor<2x5x16xf32>, tensor<16x8xf32>) outs(%init : tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return %y : tensor<2x5x8xf32>
}

// -----

// A precision cast of mixed precision (arith.truncf on a tensor, as
// convert-elementwise-to-linalg makes it a linalg.generic) runs in parallel
// chunks, like the kernels' own conversions.
// CHECK-LABEL: func.func @precision_cast
// CHECK-SAME: (%[[X:.*]]: memref<?x8xf32>) -> memref<?x8xbf16>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {{.*}}: memref<?x8xbf16>
// CHECK: %[[FROM:.*]] = memref.collapse_shape %[[X]] {{.*}} into memref<?xf32>
// CHECK: %[[TO:.*]] = memref.collapse_shape %[[OUT]] {{.*}} into memref<?xbf16>
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = memref.load %[[FROM]]
// CHECK: %[[T:.*]] = arith.truncf %[[V]] : f32 to bf16
// CHECK: memref.store %[[T]], %[[TO]]
// CHECK-NOT: linalg.generic
// CHECK: return %[[OUT]]
func.func @precision_cast(%x: tensor<?x8xf32>) -> tensor<?x8xbf16> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%n) : tensor<?x8xbf16>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x8xf32>) outs(%e : tensor<?x8xbf16>) {
  ^bb0(%in: f32, %out: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<?x8xbf16>
  return %y : tensor<?x8xbf16>
}

// -----

// Any elementwise linalg op on contiguous buffers runs its payload per
// element in parallel chunks: the adjoints' sums (linalg.add) and fills
// (a scalar operand) of a backward pass, a generic that reads its output.
// A static shape of at most one chunk gets a plain loop.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[A:.*]]: memref<?x8xf32>, %[[B:.*]]: memref<?x8xf32>, %[[S:.*]]: f32)
// CHECK: %[[FILLED:.*]] = memref.collapse_shape
// CHECK: scf.parallel
// CHECK: memref.store %[[S]], %[[FILLED]]
// CHECK: %[[SUM_A:.*]] = memref.collapse_shape %[[A]]
// CHECK: %[[SUM_B:.*]] = memref.collapse_shape %[[B]]
// CHECK: %[[SUM:.*]] = memref.collapse_shape
// CHECK: scf.parallel
// CHECK: %[[X:.*]] = memref.load %[[SUM_A]]
// CHECK: %[[Y:.*]] = memref.load %[[SUM_B]]
// CHECK: %[[Z:.*]] = arith.addf %[[X]], %[[Y]] : f32
// CHECK: memref.store %[[Z]], %[[SUM]]
// CHECK: scf.parallel
// CHECK: %[[IN:.*]] = memref.load
// CHECK: %[[OLD:.*]] = memref.load %[[ACC:.*]]{{\[}}
// CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %[[IN]] : f32
// CHECK: memref.store %[[NEW]], %[[ACC]]
// CHECK-NOT: scf.parallel
// CHECK: scf.for
// CHECK: memref.store %[[S]]
// CHECK-NOT: linalg.
// CHECK: return
func.func @elementwise(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>, %s: f32)
    -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%n) : tensor<?x8xf32>
  %filled = linalg.fill ins(%s : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %e2 = tensor.empty(%n) : tensor<?x8xf32>
  %sum = linalg.add ins(%a, %b : tensor<?x8xf32>, tensor<?x8xf32>)
      outs(%e2 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %acc = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%filled : tensor<?x8xf32>) outs(%sum : tensor<?x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = arith.addf %out, %in : f32
    linalg.yield %t : f32
  } -> tensor<?x8xf32>
  %e3 = tensor.empty() : tensor<4x8xf32>
  %small = linalg.fill ins(%s : f32) outs(%e3 : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %filled, %acc, %small : tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x8xf32>
}

// -----

// Ops that are not elementwise on their buffers as they are stay for
// upstream's loops: a transpose (not an identity map), a payload that
// reads its indices.
// CHECK-LABEL: func.func @not_elementwise
// CHECK: linalg.transpose
// CHECK: linalg.generic
// CHECK: linalg.index
func.func @not_elementwise(%a: tensor<4x8xf32>) -> (tensor<8x4xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<8x4xf32>
  %t = linalg.transpose ins(%a : tensor<4x8xf32>) outs(%e : tensor<8x4xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<4x8xf32>
  %i = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x8xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %j = linalg.index 1 : index
    %c = arith.index_cast %j : index to i32
    %f = arith.sitofp %c : i32 to f32
    %r = arith.addf %in, %f : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %t, %i : tensor<8x4xf32>, tensor<4x8xf32>
}
