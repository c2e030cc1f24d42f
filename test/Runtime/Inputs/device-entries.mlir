// Entry points for the device-tensor test (device-tensors.mlir), compiled
// for the GPU: results that are new buffers, an argument, one buffer twice,
// a constant, and a result tied to a donated argument.

func.func @add(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?xf32> {
  %s = linalg.add ins(%x, %y : tensor<?xf32>, tensor<?xf32>) outs(%x : tensor<?xf32>) -> tensor<?xf32>
  return %s : tensor<?xf32>
}

func.func @identity(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

func.func @twice(%l: tensor<?x?x4xf32>) -> (tensor<?x?x2xf32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x4xf32>
  return %g, %g : tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

func.func @constant() -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// acc + x, returned in acc's buffer (a decoder cache's contract).
func.func @accumulate(%acc: tensor<8xf32>, %x: tensor<8xf32>)
    -> (tensor<8xf32> {moa.tied = 0 : i64}) {
  %s = linalg.add ins(%acc, %x : tensor<8xf32>, tensor<8xf32>) outs(%acc : tensor<8xf32>) -> tensor<8xf32>
  return %s : tensor<8xf32>
}
