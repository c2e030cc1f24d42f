func.func @f(%l: tensor<?x?x8xi32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x8xi32>
  return
}
