// RUN: moa-opt %s -split-input-file -verify-roundtrip | FileCheck %s
// RUN: moa-opt %s -split-input-file -mlir-print-op-generic | moa-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @self_attention_dynamic
// CHECK: %{{.*}} = moa.multi_head_attention %arg0, %arg1, %arg2, %arg3, %arg4 : tensor<?x?x256xf32>, tensor<256x4x64xf32>, tensor<256x4x64xf32>, tensor<256x4x64xf32>, tensor<4x64x256xf32>
func.func @self_attention_dynamic(%x: tensor<?x?x256xf32>, %wq: tensor<256x4x64xf32>,
    %wk: tensor<256x4x64xf32>, %wv: tensor<256x4x64xf32>, %wo: tensor<4x64x256xf32>)
    -> tensor<?x?x256xf32> {
  %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo
      : tensor<?x?x256xf32>, tensor<256x4x64xf32>, tensor<256x4x64xf32>,
        tensor<256x4x64xf32>, tensor<4x64x256xf32>
  return %y : tensor<?x?x256xf32>
}

// -----

// Every attribute and optional operand, bf16.
// CHECK-LABEL: func.func @cross_attention_all_options
// CHECK: moa.multi_head_attention %arg0, %arg1, %arg2, %arg3, %arg4 memory(%arg5 : tensor<2x7x32xbf16>) key_padding_mask(%arg6 : tensor<2x7xi1>)
// CHECK-SAME: causal
// CHECK-SAME: scale = 1.250000e-01 : f32
func.func @cross_attention_all_options(%x: tensor<2x5x32xbf16>, %wq: tensor<32x2x16xbf16>,
    %wk: tensor<32x2x16xbf16>, %wv: tensor<32x2x16xbf16>, %wo: tensor<2x16x32xbf16>,
    %mem: tensor<2x7x32xbf16>, %kpm: tensor<2x7xi1>) -> tensor<2x5x32xbf16> {
  %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo memory(%mem : tensor<2x7x32xbf16>)
      key_padding_mask(%kpm : tensor<2x7xi1>) {causal, scale = 0.125 : f32}
      : tensor<2x5x32xbf16>, tensor<32x2x16xbf16>, tensor<32x2x16xbf16>,
        tensor<32x2x16xbf16>, tensor<2x16x32xbf16>
  return %y : tensor<2x5x32xbf16>
}
