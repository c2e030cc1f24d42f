// An embedding lookup then a layer norm (epsilon 1e-3), as a model's input
// block: the model ops' GPU kernels (see model-ops-emulated.mlir).
func.func @embed_norm(%ids: tensor<?x?xi32>, %table: tensor<50x72xf32>,
    %gamma: tensor<72xf32>, %beta: tensor<72xf32>) -> tensor<?x?x72xf32> {
  %x = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<50x72xf32> -> tensor<?x?x72xf32>
  %y = moa.layer_norm %x, %gamma, %beta {epsilon = 1.0e-3 : f32} : tensor<?x?x72xf32>, tensor<72xf32>
  return %y : tensor<?x?x72xf32>
}
