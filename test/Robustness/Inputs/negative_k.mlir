func.func @f(%l: tensor<?x?x8xf32>) {
  %i, %g = moa.route %l k(-3) : tensor<?x?x8xf32>
  return
}
