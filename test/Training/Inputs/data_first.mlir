// A bigram model whose data arguments come before its parameters, and
// without positions: moa-train must map arguments by name.
#row_in = affine_map<(b, t, n, c) -> (b, t, c)>
#row_w = affine_map<(b, t, n, c) -> (c, n)>
#row_out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @loss(%tokens: tensor<?x?xi32> {moa.name = "tokens"},
                %targets: tensor<?x?xi32> {moa.name = "targets"},
                %emb: tensor<16x8xf32> {moa.param = "emb", moa.init = "normal:0.5"},
                %w: tensor<8x16xf32> {moa.param = "w"})
    -> (tensor<f32> {moa.name = "loss"}, tensor<?x?x16xf32> {moa.name = "logits"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %tokens, %c0 : tensor<?x?xi32>
  %t = tensor.dim %tokens, %c1 : tensor<?x?xi32>
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<16x8xf32> -> tensor<?x?x8xf32>
  %e = tensor.empty(%b, %t) : tensor<?x?x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %logits = linalg.contract indexing_maps = [#row_in, #row_w, #row_out]
      ins(%x, %w : tensor<?x?x8xf32>, tensor<8x16xf32>) outs(%z : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %ce = moa.cross_entropy %logits, %targets : tensor<?x?x16xf32>, tensor<?x?xi32>
  return %ce, %logits : tensor<f32>, tensor<?x?x16xf32>
}
