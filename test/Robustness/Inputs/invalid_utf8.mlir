func.func @f(%l: tensor<?x?x8xf32>) {
  %i, %g = moa.route %l k(2) ÿþý : tensor<?x?x8xf32>
  return
}
