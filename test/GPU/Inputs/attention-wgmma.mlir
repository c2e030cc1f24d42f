// Attention of 16-bit operands at head sizes 128 and 64 for
// attention_wgmma_check.py: causal with a key padding mask (bf16, h = 128),
// and cross-attention with more keys than tokens (f16, h = 64, k = 3).
func.func @bf16_h128(%q: tensor<?x?x2x128xbf16>, %k: tensor<?x?x128xbf16>,
    %v: tensor<?x?x128xbf16>, %m: tensor<?x?xi1>)
    -> (tensor<?x?x2x128xbf16>, tensor<?x?x2xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x?xi1>)
      {causal, with_lse} : tensor<?x?x2x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x128xbf16>
  return %o, %lse : tensor<?x?x2x128xbf16>, tensor<?x?x2xf32>
}

func.func @f16_h64(%q: tensor<?x?x3x64xf16>, %k: tensor<?x?x64xf16>,
    %v: tensor<?x?x64xf16>) -> (tensor<?x?x3x64xf16>, tensor<?x?x3xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v {with_lse}
      : tensor<?x?x3x64xf16>, tensor<?x?x64xf16>, tensor<?x?x64xf16>
  return %o, %lse : tensor<?x?x3x64xf16>, tensor<?x?x3xf32>
}
