func.func @f() {
  %i, %g = moa.route %nothing k(2) : tensor<?x?x8xf32>
  return
}
