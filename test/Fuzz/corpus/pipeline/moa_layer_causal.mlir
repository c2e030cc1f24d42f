// One causal MoA self-attention layer (decoder style; d=256, E=8, k=2, h=64,
// official gating) with dynamic batch and sequence length.
func.func @moa_layer(%x: tensor<?x?x256xf32>, %w_gate: tensor<256x8xf32>,
                     %w_query: tensor<8x256x64xf32>, %w_key: tensor<256x64xf32>,
                     %w_value: tensor<256x64xf32>, %w_out: tensor<8x64x256xf32>)
    -> tensor<?x?x256xf32> {
  %y, %logits = moa.mixture_attention %x, %w_gate, %w_query, %w_key, %w_value, %w_out k(2)
      {causal}
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>,
        tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return %y : tensor<?x?x256xf32>
}
