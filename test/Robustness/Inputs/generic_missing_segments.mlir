func.func @f(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>) {
  %y:2 = "moa.mixture_attention"(%x, %wg) <{k = 2 : i64}>
      : (tensor<2x5x16xf32>, tensor<16x4xf32>) -> (tensor<2x5x16xf32>, tensor<2x5x4xf32>)
  return
}
