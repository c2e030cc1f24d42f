func.func @f(%i: tensor<2x3x2xi32>) {
  %p:2 = "moa.dispatch"(%i) : (tensor<2x3x2xi32>) -> (tensor<12xi32>, tensor<9xi32>)
  return
}
