func.func @f(%l: tensor<?x?x8xf32>) {
  %i, %g = moa.route %l k("two") : tensor<?x?x8xf32>
  return
}
