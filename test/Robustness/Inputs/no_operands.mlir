func.func @f() {
  %y, %l = moa.mixture_attention k(2) : tensor<?x?x16xf32>
  return
}
