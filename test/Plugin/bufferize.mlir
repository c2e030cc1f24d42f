// REQUIRES: shared-mlir
// Upstream mlir-opt with the moa plugin bufferizes moa ops with One-Shot
// Bufferize (function boundaries included): each becomes the same op on
// memrefs, with no bufferization.to_buffer/to_tensor left, and that module
// lowers and runs with moa's passes (moa-compile --bufferized runs
// moa-cpu-buffer-pipeline), matching the double-precision reference.
// RUN: %mlir_opt %s --load-dialect-plugin=%moa_lib/libMoAPlugin.so --load-pass-plugin=%moa_lib/libMoAPlugin.so --pass-pipeline="builtin.module(moa-decompose,moa-fuse,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})" | FileCheck %s

// A compiled run: moa-layer-test writes the layer modules (tensors) of two
// configurations, f32 and bf16; mlir-opt bufferizes them after
// moa-export-entry-points; moa-layer-test then runs the libraries compiled
// from the bufferized modules against the reference.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t E8-k2-h64-cross-causal-key-padding --compile-only
// RUN: moa-layer-test %moa_tools/moa-compile %t bf16-E4-k2-h8-cross-both-masks --compile-only
// RUN: rm %t/E8-k2-h64-cross-causal-key-padding.so %t/bf16-E4-k2-h8-cross-both-masks.so
// RUN: moa-opt %t/E8-k2-h64-cross-causal-key-padding.mlir --moa-export-entry-points | %mlir_opt --load-dialect-plugin=%moa_lib/libMoAPlugin.so --load-pass-plugin=%moa_lib/libMoAPlugin.so --pass-pipeline="builtin.module(moa-decompose,moa-fuse,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})" > %t/E8-k2-h64-cross-causal-key-padding.buffers.mlir
// RUN: moa-compile --bufferized %t/E8-k2-h64-cross-causal-key-padding.buffers.mlir -o %t/E8-k2-h64-cross-causal-key-padding.so
// RUN: moa-opt %t/bf16-E4-k2-h8-cross-both-masks.mlir --moa-export-entry-points | %mlir_opt --load-dialect-plugin=%moa_lib/libMoAPlugin.so --load-pass-plugin=%moa_lib/libMoAPlugin.so --pass-pipeline="builtin.module(moa-decompose,moa-fuse,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})" > %t/bf16-E4-k2-h8-cross-both-masks.buffers.mlir
// RUN: moa-compile --bufferized %t/bf16-E4-k2-h8-cross-both-masks.buffers.mlir -o %t/bf16-E4-k2-h8-cross-both-masks.so
// RUN: moa-layer-test %moa_tools/moa-compile %t E8-k2-h64-cross-causal-key-padding --prebuilt | FileCheck %s --check-prefix=EXEC
// RUN: moa-layer-test %moa_tools/moa-compile %t bf16-E4-k2-h8-cross-both-masks --prebuilt | FileCheck %s --check-prefix=EXEC

// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:.*]]: memref<?x?x16xf32>, %[[WG:.*]]: memref<16x4xf32>, %[[WQ:.*]]: memref<4x16x8xf32>, %[[WK:.*]]: memref<16x8xf32>, %[[WV:.*]]: memref<16x8xf32>, %[[WO:.*]]: memref<4x8x16xf32>, %[[M:.*]]: memref<?x?xi1>)
// CHECK-NOT: bufferization.to_
// CHECK: %[[L:.*]], %[[I:.*]], %[[G:.*]] = moa.project_route %[[X]], %[[WG]] k(2) query_padding_mask(%[[M]] : memref<?x?xi1>) : memref<?x?x16xf32>, memref<16x4xf32>
// CHECK: %[[P:.*]], %[[O:.*]] = moa.dispatch %[[I]] experts(4) : memref<?x?x2xi32>
// CHECK: %[[Q:.*]] = moa.grouped_matmul %[[X]], %[[WQ]], %[[P]], %[[O]] : (memref<?x?x16xf32>, memref<4x16x8xf32>, memref<?xi32>, memref<5xi32>) -> memref<?x?x2x8xf32>
// CHECK: %[[K:.*]], %[[V:.*]] = moa.key_value_projection %[[X]], %[[WK]], %[[WV]] : memref<?x?x16xf32>, memref<16x8xf32>
// CHECK: %[[A:.*]] = moa.multi_query_attention %[[Q]], %[[K]], %[[V]] {causal} : memref<?x?x2x8xf32>, memref<?x?x8xf32>, memref<?x?x8xf32>
// CHECK: %[[Y:.*]] = moa.grouped_matmul %[[A]], %[[WO]], %[[P]], %[[O]] gates(%[[G]] : memref<?x?x2xf32>)
// CHECK: %[[Z:.*]] = moa.router_z_loss %[[L]] query_padding_mask(%[[M]] : memref<?x?xi1>) : memref<?x?x4xf32>
// CHECK-NOT: bufferization.to_
// CHECK: return %[[Y]], %[[Z]] : memref<?x?x16xf32>, memref<f32>
// EXEC-NOT: FAIL
// EXEC: 1 configurations, 2 runs, 0 failed
func.func @layer(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>, %mask: tensor<?x?xi1>)
    -> (tensor<?x?x16xf32>, tensor<f32>) {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) query_padding_mask(%mask : tensor<?x?xi1>) {causal}
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  %z = moa.router_z_loss %l query_padding_mask(%mask : tensor<?x?xi1>) : tensor<?x?x4xf32>
  return %y, %z : tensor<?x?x16xf32>, tensor<f32>
}
