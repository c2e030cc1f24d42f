// RUN: moa-opt %s -split-input-file -moa-lower-to-loops -verify-diagnostics

func.func @layer_not_decomposed(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{run moa-decompose before moa-lower-to-loops}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @index_typed_dispatch(%i: tensor<?x?x2xindex>) -> tensor<?xi32> {
  // expected-error @+1 {{cannot lower to the CPU: index operands (indices, permutation, offsets) must be i32}}
  %p, %o = moa.dispatch %i experts(8) : tensor<?x?x2xindex>
  return %p : tensor<?xi32>
}
