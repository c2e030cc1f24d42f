// RUN: moa-opt %s -split-input-file -moa-decompose -verify-diagnostics

func.func @dynamic_experts(%x: tensor<?x?x16xf32>, %wg: tensor<16x?xf32>, %wq: tensor<?x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<?x8x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{cannot decompose: the number of experts (dimension 1 of 'w_gate') must be static}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x?xf32>, tensor<?x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<?x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @dynamic_heads(%x: tensor<?x?x32xf32>, %w: tensor<32x?x8xf32>, %wo: tensor<?x8x32xf32>)
    -> tensor<?x?x32xf32> {
  // expected-error @+1 {{cannot decompose: the number of heads and the head size (dimensions 1 and 2 of 'w_query') must be static}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo
      : tensor<?x?x32xf32>, tensor<32x?x8xf32>, tensor<32x?x8xf32>, tensor<32x?x8xf32>, tensor<?x8x32xf32>
  return %y : tensor<?x?x32xf32>
}
