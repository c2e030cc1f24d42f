// RUN: moa-opt %s -split-input-file -verify-roundtrip | FileCheck %s
// RUN: moa-opt %s -split-input-file -mlir-print-op-generic | moa-opt -split-input-file | FileCheck %s

// A decoding step's cache write and attention, on tensors.
// CHECK-LABEL: func.func @decode_step
// CHECK: %[[KC:.*]] = moa.cache_write %arg0, %arg3 into %arg1 : tensor<?x1x64xf32>, tensor<?xi32> into tensor<?x2048x64xf32> -> tensor<?x2048x64xf32>
// CHECK: moa.cached_attention %arg4, %[[KC]], %arg2, %arg3 : tensor<?x1x2x64xf32>, tensor<?x2048x64xf32>, tensor<?xi32>
// CHECK: moa.cached_attention %arg4, %[[KC]], %arg2, %arg3 {scale = 2.500000e-01 : f32} : tensor<?x1x2x64xf32>, tensor<?x2048x64xf32>, tensor<?xi32>
func.func @decode_step(%k: tensor<?x1x64xf32>, %kc: tensor<?x2048x64xf32>,
    %vc: tensor<?x2048x64xf32>, %offsets: tensor<?xi32>,
    %q: tensor<?x1x2x64xf32>) -> (tensor<?x1x2x64xf32>, tensor<?x1x2x64xf32>) {
  %kc1 = moa.cache_write %k, %offsets into %kc
      : tensor<?x1x64xf32>, tensor<?xi32> into tensor<?x2048x64xf32> -> tensor<?x2048x64xf32>
  %o = moa.cached_attention %q, %kc1, %vc, %offsets
      : tensor<?x1x2x64xf32>, tensor<?x2048x64xf32>, tensor<?xi32>
  %o2 = moa.cached_attention %q, %kc1, %vc, %offsets {scale = 0.25 : f32}
      : tensor<?x1x2x64xf32>, tensor<?x2048x64xf32>, tensor<?xi32>
  return %o, %o2 : tensor<?x1x2x64xf32>, tensor<?x1x2x64xf32>
}

// -----

// The buffer form: the cache is written in place, bf16 caches, a prompt of
// several tokens.
// CHECK-LABEL: func.func @buffers
// CHECK: moa.cache_write %arg0, %arg2 into %arg1 : memref<4x8x16xbf16>, memref<4xi32> into memref<4x32x16xbf16>
// CHECK: moa.cached_attention %arg3, %arg1, %arg1, %arg2 : memref<4x8x3x16xbf16>, memref<4x32x16xbf16>, memref<4xi32>
func.func @buffers(%k: memref<4x8x16xbf16>, %kc: memref<4x32x16xbf16>,
    %offsets: memref<4xi32>, %q: memref<4x8x3x16xbf16>) -> memref<4x8x3x16xbf16> {
  moa.cache_write %k, %offsets into %kc
      : memref<4x8x16xbf16>, memref<4xi32> into memref<4x32x16xbf16>
  %o = moa.cached_attention %q, %kc, %kc, %offsets
      : memref<4x8x3x16xbf16>, memref<4x32x16xbf16>, memref<4xi32>
  return %o : memref<4x8x3x16xbf16>
}
