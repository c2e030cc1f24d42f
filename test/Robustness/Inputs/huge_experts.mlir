func.func @f(%i: tensor<?x?x2xi32>) {
  %p, %o = moa.dispatch %i experts(9223372036854775807) : tensor<?x?x2xi32>
  return
}
