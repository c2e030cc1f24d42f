
func.func @twice(%l: tensor<?x?x4xf32>) -> (tensor<?x?x2xf32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x4xf32>
  return %g, %g : tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

func.func @identity(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

func.func @constant() -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  return %c : tensor<4xf32>
}

func.func @add_into(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?xf32> {
  %s = linalg.add ins(%x, %y : tensor<?xf32>, tensor<?xf32>) outs(%x : tensor<?xf32>) -> tensor<?xf32>
  return %s : tensor<?xf32>
}

func.func @losses(%l: tensor<?x?x4xf32>, %i: tensor<?x?x2xi32>) -> tensor<f32> {
  %a = moa.load_balancing_loss %l, %i : tensor<?x?x4xf32>, tensor<?x?x2xi32>
  return %a : tensor<f32>
}
func.func @route_dynamic_experts(%l: tensor<?x?x?xf32>) -> tensor<?x?x4xi32> {
  %i, %g = moa.route %l k(4) : tensor<?x?x?xf32>
  return %i : tensor<?x?x4xi32>
}
func.func @project(%x: tensor<?x?x8xf32>, %w: tensor<8x4xf32>, %init: tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  %y = linalg.contract indexing_maps = [affine_map<(b, t, n, c) -> (b, t, c)>, affine_map<(b, t, n, c) -> (c, n)>, affine_map<(b, t, n, c) -> (b, t, n)>]
      ins(%x, %w : tensor<?x?x8xf32>, tensor<8x4xf32>) outs(%init : tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}
