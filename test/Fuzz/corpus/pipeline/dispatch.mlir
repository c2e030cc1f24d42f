func.func @dispatch(%i: tensor<?x?x2xi32>) -> (tensor<?xi32>, tensor<9xi32>) {
  %p, %o = moa.dispatch %i experts(8) : tensor<?x?x2xi32>
  return %p, %o : tensor<?xi32>, tensor<9xi32>
}
