func.func @f(%l: tensor<?x?x8xf32>) {
  %i, %g = moa.route %l k(2) {gating = #moa.gating<sigmoid>} : tensor<?x?x8xf32>
  return
}
