func.func @f(%l: tensor<2x3x8xf32>) {
  %0:2 = "moa.route"(%l) <{k = 2.0 : f32}> : (tensor<2x3x8xf32>) -> (tensor<2x3x2xi32>, tensor<2x3x2xf32>)
  return
}
