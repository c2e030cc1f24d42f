// A small decoder-only MoA language model, written as its training loss:
// token and position embeddings, one pre-LN block (causal MoA attention with
// E=4 experts, k=2, h=16, then a ReLU FFN), a final layer norm and the
// output projection, cross-entropy on the labelled targets plus the official
// auxiliary losses 0.01 * load balancing + 0.001 * router z-loss.
//
// d=32, vocabulary 64, at most 64 positions; batch and length are dynamic.
// Compile a training step with
//   moa-compile tiny_lm.mlir -o tiny_lm.so \
//     --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// and train it with moa-train (see the README). Arguments marked moa.param
// are trained; moa.init tells moa-train how to initialise them.

#row_in = affine_map<(b, t, n, c) -> (b, t, c)>
#row_w = affine_map<(b, t, n, c) -> (c, n)>
#row_out = affine_map<(b, t, n, c) -> (b, t, n)>

func.func @loss(
    %tok_emb: tensor<64x32xf32> {moa.param = "tok_emb", moa.init = "normal:0.1"},
    %pos_emb: tensor<64x32xf32> {moa.param = "pos_emb", moa.init = "normal:0.1"},
    %ln1_g: tensor<32xf32> {moa.param = "ln1_g", moa.init = "ones"},
    %ln1_b: tensor<32xf32> {moa.param = "ln1_b", moa.init = "zeros"},
    %w_gate: tensor<32x4xf32> {moa.param = "w_gate", moa.init = "normal:0.1"},
    %w_query: tensor<4x32x16xf32> {moa.param = "w_query", moa.init = "fan_in"},
    %w_key: tensor<32x16xf32> {moa.param = "w_key", moa.init = "fan_in"},
    %w_value: tensor<32x16xf32> {moa.param = "w_value", moa.init = "fan_in"},
    %w_out: tensor<4x16x32xf32> {moa.param = "w_out", moa.init = "fan_in"},
    %ln2_g: tensor<32xf32> {moa.param = "ln2_g", moa.init = "ones"},
    %ln2_b: tensor<32xf32> {moa.param = "ln2_b", moa.init = "zeros"},
    %w_ff1: tensor<32x64xf32> {moa.param = "w_ff1", moa.init = "fan_in"},
    %w_ff2: tensor<64x32xf32> {moa.param = "w_ff2", moa.init = "fan_in"},
    %lnf_g: tensor<32xf32> {moa.param = "lnf_g", moa.init = "ones"},
    %lnf_b: tensor<32xf32> {moa.param = "lnf_b", moa.init = "zeros"},
    %w_vocab: tensor<32x64xf32> {moa.param = "w_vocab", moa.init = "fan_in"},
    %tokens: tensor<?x?xi32> {moa.name = "tokens"},
    %positions: tensor<?x?xi32> {moa.name = "positions"},
    %targets: tensor<?x?xi32> {moa.name = "targets"})
    -> (tensor<f32> {moa.name = "loss"}, tensor<f32> {moa.name = "ce"},
        tensor<f32> {moa.name = "lb"}, tensor<f32> {moa.name = "z"},
        tensor<?x?x64xf32> {moa.name = "logits"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %tokens, %c0 : tensor<?x?xi32>
  %t = tensor.dim %tokens, %c1 : tensor<?x?xi32>

  // Embeddings.
  %tok = moa.embedding %tokens, %tok_emb
      : tensor<?x?xi32>, tensor<64x32xf32> -> tensor<?x?x32xf32>
  %pos = moa.embedding %positions, %pos_emb
      : tensor<?x?xi32>, tensor<64x32xf32> -> tensor<?x?x32xf32>
  %e32 = tensor.empty(%b, %t) : tensor<?x?x32xf32>
  %x0 = linalg.add ins(%tok, %pos : tensor<?x?x32xf32>, tensor<?x?x32xf32>)
      outs(%e32 : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>

  // Causal MoA self-attention, pre-LN, residual.
  %h1 = moa.layer_norm %x0, %ln1_g, %ln1_b : tensor<?x?x32xf32>, tensor<32xf32>
  %attn, %router_logits = moa.mixture_attention %h1, %w_gate, %w_query, %w_key,
      %w_value, %w_out k(2) {causal}
      : tensor<?x?x32xf32>, tensor<32x4xf32>, tensor<4x32x16xf32>,
        tensor<32x16xf32>, tensor<32x16xf32>, tensor<4x16x32xf32>
  %x1 = linalg.add ins(%x0, %attn : tensor<?x?x32xf32>, tensor<?x?x32xf32>)
      outs(%e32 : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>

  // ReLU FFN, pre-LN, residual.
  %h2 = moa.layer_norm %x1, %ln2_g, %ln2_b : tensor<?x?x32xf32>, tensor<32xf32>
  %e64 = tensor.empty(%b, %t) : tensor<?x?x64xf32>
  %z64 = linalg.fill ins(%zero : f32) outs(%e64 : tensor<?x?x64xf32>)
      -> tensor<?x?x64xf32>
  %u = linalg.contract indexing_maps = [#row_in, #row_w, #row_out]
      ins(%h2, %w_ff1 : tensor<?x?x32xf32>, tensor<32x64xf32>)
      outs(%z64 : tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %r = linalg.max ins(%u, %z64 : tensor<?x?x64xf32>, tensor<?x?x64xf32>)
      outs(%e64 : tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %z32 = linalg.fill ins(%zero : f32) outs(%e32 : tensor<?x?x32xf32>)
      -> tensor<?x?x32xf32>
  %f = linalg.contract indexing_maps = [#row_in, #row_w, #row_out]
      ins(%r, %w_ff2 : tensor<?x?x64xf32>, tensor<64x32xf32>)
      outs(%z32 : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  %x2 = linalg.add ins(%x1, %f : tensor<?x?x32xf32>, tensor<?x?x32xf32>)
      outs(%e32 : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>

  // Output projection and losses.
  %hf = moa.layer_norm %x2, %lnf_g, %lnf_b : tensor<?x?x32xf32>, tensor<32xf32>
  %logits = linalg.contract indexing_maps = [#row_in, #row_w, #row_out]
      ins(%hf, %w_vocab : tensor<?x?x32xf32>, tensor<32x64xf32>)
      outs(%z64 : tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %ce = moa.cross_entropy %logits, %targets : tensor<?x?x64xf32>, tensor<?x?xi32>
  %idx, %gates = moa.route %router_logits k(2) : tensor<?x?x4xf32>
  %lb = moa.load_balancing_loss %router_logits, %idx
      : tensor<?x?x4xf32>, tensor<?x?x2xi32>
  %z = moa.router_z_loss %router_logits : tensor<?x?x4xf32>
  %c_lb = arith.constant dense<0.01> : tensor<f32>
  %c_z = arith.constant dense<0.001> : tensor<f32>
  %lb_w = arith.mulf %c_lb, %lb : tensor<f32>
  %z_w = arith.mulf %c_z, %z : tensor<f32>
  %aux = arith.addf %lb_w, %z_w : tensor<f32>
  %loss = arith.addf %ce, %aux : tensor<f32>
  return %loss, %ce, %lb, %z, %logits
      : tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<?x?x64xf32>
}
