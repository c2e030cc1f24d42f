// A model whose next-token logits are known: row `token` of a table, so a
// checkpoint that sets the table sets every step's logits (no attention, so
// its decoder has no caches).
func.func @loss(%table: tensor<6x6xf32> {moa.param = "table"},
    %tokens: tensor<?x?xi32> {moa.name = "tokens"})
    -> (tensor<?x?x6xf32> {moa.name = "logits"}) {
  %logits = moa.embedding %tokens, %table
      : tensor<?x?xi32>, tensor<6x6xf32> -> tensor<?x?x6xf32>
  return %logits : tensor<?x?x6xf32>
}
