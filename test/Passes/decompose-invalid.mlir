// RUN: moa-opt %s -split-input-file -moa-decompose -verify-diagnostics

func.func @dynamic_experts(%x: tensor<?x?x16xf32>, %wg: tensor<16x?xf32>, %wq: tensor<?x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<?x8x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{cannot decompose: the number of experts (dimension 1 of 'w_gate') must be static}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x?xf32>, tensor<?x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<?x8x16xf32>
  return %y : tensor<?x?x16xf32>
}
