// The attention forward's row log-sum-exp (with_lse) in f32 (the CUDA-core
// kernel on the GPU) and bf16 (the tensor-core kernel), causal with a key
// padding mask: attention-lse.mlir checks it against float64.
func.func @lse_f32(%q: tensor<?x?x2x32xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>,
    %m: tensor<?x?xi1>) -> (tensor<?x?x2x32xf32>, tensor<?x?x2xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x?xi1>)
      {causal, with_lse} : tensor<?x?x2x32xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
  return %o, %lse : tensor<?x?x2x32xf32>, tensor<?x?x2xf32>
}

func.func @lse_bf16(%q: tensor<?x?x2x32xbf16>, %k: tensor<?x?x32xbf16>, %v: tensor<?x?x32xbf16>,
    %m: tensor<?x?xi1>) -> (tensor<?x?x2x32xbf16>, tensor<?x?x2xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x?xi1>)
      {causal, with_lse} : tensor<?x?x2x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x32xbf16>
  return %o, %lse : tensor<?x?x2x32xbf16>, tensor<?x?x2xf32>
}
