// REQUIRES: shared-mlir
// Debian's own mlir-opt loads moa as a dialect and pass plugin.
// RUN: %mlir_opt %s --load-dialect-plugin=%moa_lib/libMoAPlugin.so --load-pass-plugin=%moa_lib/libMoAPlugin.so --pass-pipeline="builtin.module(moa-decompose)" | FileCheck %s
// RUN: not %mlir_opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// NOPLUGIN: error: Dialect `moa' not found for custom op 'moa.mixture_attention'

// CHECK-LABEL: func.func @layer
// CHECK-NOT: moa.mixture_attention
// CHECK: moa.route %{{.*}} k(2)
// CHECK: moa.grouped_matmul
// CHECK: moa.multi_query_attention
func.func @layer(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) -> tensor<?x?x16xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}
