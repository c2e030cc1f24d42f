// A dynamic model dimension: only the run can compare x's d with the
// memory's and w_out's (runtime-entries.mlir, GPU/errors-emulated.mlir).
func.func @dynamic_model_dim(%x: tensor<?x?x?xf32>, %mem: tensor<?x?x?xf32>,
    %wg: tensor<?x2xf32>, %wq: tensor<2x?x4xf32>, %wk: tensor<?x4xf32>,
    %wv: tensor<?x4xf32>, %wo: tensor<2x4x?xf32>) -> tensor<?x?x?xf32> {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(1)
      memory(%mem : tensor<?x?x?xf32>)
      : tensor<?x?x?xf32>, tensor<?x2xf32>, tensor<2x?x4xf32>,
        tensor<?x4xf32>, tensor<?x4xf32>, tensor<2x4x?xf32>
  return %y : tensor<?x?x?xf32>
}
