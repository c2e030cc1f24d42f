// Entry points that stress the runtime boundary (runtime-entries.mlir).

// Two results sharing one buffer.
func.func @twice(%l: tensor<?x?x4xf32>) -> (tensor<?x?x2xf32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) : tensor<?x?x4xf32>
  return %g, %g : tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

// Returns its argument.
func.func @identity(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

// Returns a constant.
func.func @constant() -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// Writes into its argument's tensor: the caller's data must not change.
func.func @add_into(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?xf32> {
  %s = linalg.add ins(%x, %y : tensor<?xf32>, tensor<?xf32>) outs(%x : tensor<?xf32>) -> tensor<?xf32>
  return %s : tensor<?xf32>
}

// Sizes that only agree at run time.
func.func @losses(%l: tensor<?x?x4xf32>, %i: tensor<?x?x2xi32>) -> tensor<f32> {
  %a = moa.load_balancing_loss %l, %i : tensor<?x?x4xf32>, tensor<?x?x2xi32>
  return %a : tensor<f32>
}
func.func @route_dynamic_experts(%l: tensor<?x?x?xf32>) -> tensor<?x?x4xi32> {
  %i, %g = moa.route %l k(4) : tensor<?x?x?xf32>
  return %i : tensor<?x?x4xi32>
}
func.func @project(%x: tensor<?x?x8xf32>, %w: tensor<8x4xf32>, %init: tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  %y = linalg.contract indexing_maps = [affine_map<(b, t, n, c) -> (b, t, c)>, affine_map<(b, t, n, c) -> (c, n)>, affine_map<(b, t, n, c) -> (b, t, n)>]
      ins(%x, %w : tensor<?x?x8xf32>, tensor<8x4xf32>) outs(%init : tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}
// The slot count comes from the permutation; no tokens at all is fine.
func.func @grouped_dynamic_slots(%x: tensor<?x?x8xf32>, %w: tensor<2x8x4xf32>, %p: tensor<?xi32>, %o: tensor<3xi32>) -> tensor<?x?x?x4xf32> {
  %y = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x8xf32>, tensor<2x8x4xf32>, tensor<?xi32>, tensor<3xi32>) -> tensor<?x?x?x4xf32>
  return %y : tensor<?x?x?x4xf32>
}

// Attention with a key padding mask (mask bytes, non-finite padded values).
func.func @attention(%q: tensor<?x?x1x4xf32>, %k: tensor<?x?x4xf32>, %v: tensor<?x?x4xf32>,
    %m: tensor<?x?xi1>) -> tensor<?x?x1x4xf32> {
  %o = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x?xi1>)
      : tensor<?x?x1x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>
  return %o : tensor<?x?x1x4xf32>
}

// One AdamW update with the step count and gradient norm as inputs.
func.func @adamw(%p: tensor<4xf32>, %g: tensor<4xf32>, %step: tensor<f32>, %norm: tensor<f32>)
    -> tensor<4xf32> {
  %p1, %m1, %v1 = moa.adamw %p, %g, %g, %g step(%step) norm(%norm) {lr = 1.0e-3 : f32}
      : tensor<4xf32>
  return %p1 : tensor<4xf32>
}

// An outer product after an elementwise sum: the result grows as the product
// of the inputs' sizes, so small inputs can ask for more memory than exists.
#outer_x = affine_map<(i, j) -> (i)>
#outer_y = affine_map<(i, j) -> (j)>
#outer_r = affine_map<(i, j) -> (i, j)>
func.func @outer(%x: tensor<?xf32>, %y: tensor<?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %m = tensor.dim %y, %c0 : tensor<?xf32>
  %ex = tensor.empty(%n) : tensor<?xf32>
  %x2 = linalg.add ins(%x, %x : tensor<?xf32>, tensor<?xf32>)
      outs(%ex : tensor<?xf32>) -> tensor<?xf32>
  %e = tensor.empty(%n, %m) : tensor<?x?xf32>
  %r = linalg.generic {indexing_maps = [#outer_x, #outer_y, #outer_r],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x2, %y : tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// Cross-attention with dynamic batch and lengths: x and the memory must
// agree in their batch, which only the generated code can check.
func.func @cross_layer(%x: tensor<?x?x8xf32>, %mem: tensor<?x?x8xf32>,
    %wg: tensor<8x2xf32>, %wq: tensor<2x8x4xf32>, %wk: tensor<8x4xf32>,
    %wv: tensor<8x4xf32>, %wo: tensor<2x4x8xf32>) -> tensor<?x?x8xf32> {
  %y, %logits = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(1)
      memory(%mem : tensor<?x?x8xf32>)
      : tensor<?x?x8xf32>, tensor<8x2xf32>, tensor<2x8x4xf32>,
        tensor<8x4xf32>, tensor<8x4xf32>, tensor<2x4x8xf32>
  return %y : tensor<?x?x8xf32>
}
