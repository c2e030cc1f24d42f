func.func @f(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) {
  %y:2 = "moa.mixture_attention"(%x, %wg, %wq, %wk, %wv, %wo)
      <{k = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 3, 0, 0, 0>}>
      : (tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>)
      -> (tensor<2x5x16xf32>, tensor<2x5x4xf32>)
  return
}
