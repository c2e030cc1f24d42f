func.func @f(%l: tensor<?x?x8xf32>) -> tensor<?x?x2xi32> {
  %i, %g = moa.route %l k(2) : tensor<?x?x8xf32>
  return %g : tensor<?x?x2xi32>
}
