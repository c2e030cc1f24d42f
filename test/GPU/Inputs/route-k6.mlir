// Top-6 of 8 experts: what nan-routing.mlir routes on the CPU and on the GPU.
func.func @route(%l: tensor<?x?x8xf32>) -> tensor<?x?x6xi32> {
  %i, %g = moa.route %l k(6) : tensor<?x?x8xf32>
  return %i : tensor<?x?x6xi32>
}
