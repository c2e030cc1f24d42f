// A causal bf16 MoA layer (d=256, E=8, k=2, h=64) with an f32 router weight.
func.func @layer_bf16(%x: tensor<?x?x256xbf16>, %w_gate: tensor<256x8xf32>,
                      %w_query: tensor<8x256x64xbf16>, %w_key: tensor<256x64xbf16>,
                      %w_value: tensor<256x64xbf16>, %w_out: tensor<8x64x256xbf16>)
    -> (tensor<?x?x256xbf16>, tensor<?x?x8xf32>) {
  %y, %logits = moa.mixture_attention %x, %w_gate, %w_query, %w_key, %w_value, %w_out k(2) {causal}
      : tensor<?x?x256xbf16>, tensor<256x8xf32>, tensor<8x256x64xbf16>,
        tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<8x64x256xbf16>
  return %y, %logits : tensor<?x?x256xbf16>, tensor<?x?x8xf32>
}
