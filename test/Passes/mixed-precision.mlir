// RUN: moa-opt %s -split-input-file -moa-generate-gradients=mixed-precision=bf16 | FileCheck %s
// RUN: not moa-opt %s -moa-generate-gradients=mixed-precision=f16 2>&1 | FileCheck %s --check-prefix=BAD

// Mixed precision: the gradient function differentiates the loss as
// autocast runs it. The FFN's GEMMs read bf16 (f32 master weights rounded
// where a GEMM reads them), accumulate into an f32 init and round their
// result once; the ReLU runs in f32, the router's projection (it feeds
// moa.route) stays f32. The backward rounds the
// gradient a bf16 GEMM reads; weight gradients accumulate in f32 from the
// bf16 operands and are returned as they are. The function itself is left
// in f32.
// BAD: error: mixed-precision must be 'none' or 'bf16', not 'f16'
// BAD-NOT: see current operation
#rows = affine_map<(b, t, n, c) -> (b, t, c)>
#weight = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
// CHECK-LABEL: func.func @loss(
// CHECK-NOT: bf16
// CHECK-LABEL: func.func @loss_grad(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x3x8xf32>, %[[W1:[a-z0-9]+]]: tensor<8x16xf32>, %[[W2:[a-z0-9]+]]: tensor<16x8xf32>, %[[WG:[a-z0-9]+]]: tensor<8x4xf32>, %[[DY:[a-z0-9]+]]: tensor<2x3x8xf32>, %[[DG:[a-z0-9]+]]: tensor<2x3x2xf32>)
// CHECK-DAG: %[[W2B:.*]] = arith.truncf %[[W2]] : tensor<16x8xf32> to tensor<16x8xbf16>
// CHECK-DAG: %[[W1B:.*]] = arith.truncf %[[W1]] : tensor<8x16xf32> to tensor<8x16xbf16>
// CHECK-DAG: %[[XB:.*]] = arith.truncf %[[X]] : tensor<2x3x8xf32> to tensor<2x3x8xbf16>
// CHECK: %[[U32:.*]] = linalg.contract {{.*}} ins(%[[XB]], %[[W1B]] : tensor<2x3x8xbf16>, tensor<8x16xbf16>) outs(%{{.*}} : tensor<2x3x16xf32>)
// CHECK: %[[U:.*]] = arith.truncf %[[U32]] : tensor<2x3x16xf32> to tensor<2x3x16xbf16>
// CHECK: %[[UW:.*]] = arith.extf %[[U]] : tensor<2x3x16xbf16> to tensor<2x3x16xf32>
// CHECK: %[[R:.*]] = linalg.max ins(%[[UW]], %{{.*}} : tensor<2x3x16xf32>, tensor<2x3x16xf32>)
// CHECK: %[[RB:.*]] = arith.truncf %[[R]] : tensor<2x3x16xf32> to tensor<2x3x16xbf16>
// CHECK: %[[Y32:.*]] = linalg.contract {{.*}} ins(%[[RB]], %[[W2B]] : tensor<2x3x16xbf16>, tensor<16x8xbf16>) outs(%{{.*}} : tensor<2x3x8xf32>)
// CHECK: arith.truncf %[[Y32]] : tensor<2x3x8xf32> to tensor<2x3x8xbf16>
// CHECK: %[[L:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[WG]] : tensor<2x3x8xf32>, tensor<8x4xf32>) outs(%{{.*}} : tensor<2x3x4xf32>)
// CHECK: moa.route %[[L]]
// CHECK: %[[DYB:.*]] = arith.truncf %[[DY]] : tensor<2x3x8xf32> to tensor<2x3x8xbf16>
// CHECK: %[[DR32:.*]] = linalg.contract {{.*}} ins(%[[DYB]], %{{.*}} : tensor<2x3x8xbf16>, tensor<8x16xbf16>) outs(%{{.*}} : tensor<2x3x16xf32>)
// CHECK: arith.truncf %[[DR32]] : tensor<2x3x16xf32> to tensor<2x3x16xbf16>
// CHECK: %[[DW2:.*]] = linalg.contract {{.*}} ins(%[[RB]], %[[DYB]] : tensor<2x3x16xbf16>, tensor<2x3x8xbf16>) outs(%{{.*}} : tensor<16x8xf32>)
// CHECK: return %{{.*}}, %{{.*}}, %[[DW2]], %{{.*}} : tensor<2x3x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>, tensor<8x4xf32>
func.func @loss(%x: tensor<2x3x8xf32>, %w1: tensor<8x16xf32>, %w2: tensor<16x8xf32>,
    %wg: tensor<8x4xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %e16 = tensor.empty() : tensor<2x3x16xf32>
  %z16 = linalg.fill ins(%zero : f32) outs(%e16 : tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
  %u = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %w1 : tensor<2x3x8xf32>, tensor<8x16xf32>) outs(%z16 : tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
  %r = linalg.max ins(%u, %z16 : tensor<2x3x16xf32>, tensor<2x3x16xf32>)
      outs(%e16 : tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
  %e8 = tensor.empty() : tensor<2x3x8xf32>
  %z8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %y = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%r, %w2 : tensor<2x3x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %e4 = tensor.empty() : tensor<2x3x4xf32>
  %z4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %wg : tensor<2x3x8xf32>, tensor<8x4xf32>) outs(%z4 : tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %idx, %gates = moa.route %logits k(2) : tensor<2x3x4xf32>
  return %y, %gates : tensor<2x3x8xf32>, tensor<2x3x2xf32>
}

// -----

// bf16 arguments (a bf16 layer, nothing left to narrow): their gradients
// are bf16, accumulated in f32 and rounded once; the router's f32 logits
// are differentiated in the rows' precision.
// CHECK-LABEL: func.func @bf16_layer_grad(
// CHECK: %[[DWG:.*]] = linalg.contract {{.*}} outs(%{{.*}} : tensor<16x4xf32>)
// CHECK: %[[DWGB:.*]] = arith.truncf %[[DWG]] : tensor<16x4xf32> to tensor<16x4xbf16>
// CHECK: return %{{.*}}, %[[DWGB]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x5x16xbf16>, tensor<16x4xbf16>, tensor<4x16x8xbf16>, tensor<16x8xbf16>, tensor<16x8xbf16>, tensor<4x8x16xbf16>
func.func @bf16_layer(%x: tensor<2x5x16xbf16>, %wg: tensor<16x4xbf16>, %wq: tensor<4x16x8xbf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<4x8x16xbf16>) -> tensor<2x5x16xbf16> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<2x5x16xbf16>, tensor<16x4xbf16>, tensor<4x16x8xbf16>, tensor<16x8xbf16>,
        tensor<16x8xbf16>, tensor<4x8x16xbf16>
  return %y : tensor<2x5x16xbf16>
}
