// A causal f16 MoA layer (d=256, E=8, k=2, h=64) with an f32 router weight.
func.func @layer_f16(%x: tensor<?x?x256xf16>, %w_gate: tensor<256x8xf32>,
                      %w_query: tensor<8x256x64xf16>, %w_key: tensor<256x64xf16>,
                      %w_value: tensor<256x64xf16>, %w_out: tensor<8x64x256xf16>)
    -> (tensor<?x?x256xf16>, tensor<?x?x8xf32>) {
  %y, %logits = moa.mixture_attention %x, %w_gate, %w_query, %w_key, %w_value, %w_out k(2) {causal}
      : tensor<?x?x256xf16>, tensor<256x8xf32>, tensor<8x256x64xf16>,
        tensor<256x64xf16>, tensor<256x64xf16>, tensor<8x64x256xf16>
  return %y, %logits : tensor<?x?x256xf16>, tensor<?x?x8xf32>
}
