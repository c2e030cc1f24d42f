func.func @f(%l: tensor<2x3x8xf32>) {
  %0 = "moa.route"(%l) <{k = 2 : i64}> : (tensor<2x3x8xf32>) -> tensor<2x3x2xi32>
  return
}
