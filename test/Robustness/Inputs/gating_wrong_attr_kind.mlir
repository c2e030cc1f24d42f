func.func @f(%l: tensor<?x?x8xf32>) {
  %i, %g = moa.route %l k(2) {gating = "softmax_topk"} : tensor<?x?x8xf32>
  return
}
