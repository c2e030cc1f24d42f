// Training ops called directly with inputs the forward ops would never
// produce, for test/Training/bad-inputs.mlir.
func.func @route_grad(%l: tensor<?x?x4xf32>, %i: tensor<?x?x2xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x4xf32> {
  %d = moa.route_grad %l, %i, %g {renormalize} : tensor<?x?x4xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  return %d : tensor<?x?x4xf32>
}
func.func @grouped_matmul_grad(%x: tensor<?x?x?xf32>, %w: tensor<2x16x4xf32>, %p: tensor<?xi32>, %o: tensor<3xi32>, %dy: tensor<?x?x2x4xf32>) -> (tensor<?x?x?xf32>, tensor<2x16x4xf32>) {
  %dx, %dw = moa.grouped_matmul_grad %x, %w, %p, %o, %dy : tensor<?x?x?xf32>, tensor<2x16x4xf32>, tensor<?xi32>, tensor<3xi32>, tensor<?x?x2x4xf32>
  return %dx, %dw : tensor<?x?x?xf32>, tensor<2x16x4xf32>
}
func.func @layer_norm(%x: tensor<?x8xf32>, %g: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?x8xf32> {
  %y = moa.layer_norm %x, %g, %b : tensor<?x8xf32>, tensor<?xf32>
  return %y : tensor<?x8xf32>
}
func.func @layer_norm_grad(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %dy: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %dx, %dg, %db = moa.layer_norm_grad %x, %g, %dy : tensor<?x8xf32>, tensor<8xf32>
  return %dx : tensor<?x8xf32>
}
func.func @cross_entropy(%l: tensor<?x?x?xf32>, %t: tensor<?x?xi32>) -> tensor<f32> {
  %c = moa.cross_entropy %l, %t : tensor<?x?x?xf32>, tensor<?x?xi32>
  return %c : tensor<f32>
}
