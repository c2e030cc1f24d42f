// RUN: moa-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// moa.route_grad
//===----------------------------------------------------------------------===//

func.func @route_grad_logits_rank(%l: tensor<?x8xf32>, %i: tensor<?x?x2xi32>, %dg: tensor<?x?x2xf32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<?x8xf32>'}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  return
}

// -----

func.func @route_grad_indices_shape(%l: tensor<2x5x8xf32>, %i: tensor<2x6x2xi32>, %dg: tensor<2x5x2xf32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, ?] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.route_grad %l, %i, %dg : tensor<2x5x8xf32>, tensor<2x6x2xi32>, tensor<2x5x2xf32>
  return
}

// -----

func.func @route_grad_gates_grad_count(%l: tensor<?x?x8xf32>, %i: tensor<?x?x2xi32>, %dg: tensor<?x?x3xf32>) {
  // expected-error @+1 {{'gates_grad' must have shape [B, T, k] = [?, ?, 2] but has type 'tensor<?x?x3xf32>'}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x3xf32>
  return
}

// -----

func.func @route_grad_k_too_large(%l: tensor<?x?x8xf32>, %i: tensor<?x?x9xi32>, %dg: tensor<?x?x9xf32>) {
  // expected-error @+1 {{k = 9 must be in [1, E] with E = 8}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xf32>, tensor<?x?x9xi32>, tensor<?x?x9xf32>
  return
}

// -----

func.func @route_grad_k_zero(%l: tensor<?x?x8xf32>, %i: tensor<?x?x0xi32>, %dg: tensor<?x?x0xf32>) {
  // expected-error @+1 {{k = 0 must be in [1, E] with E = 8}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xf32>, tensor<?x?x0xi32>, tensor<?x?x0xf32>
  return
}

// -----

func.func @route_grad_bf16_logits(%l: tensor<?x?x8xbf16>, %i: tensor<?x?x2xi32>, %dg: tensor<?x?x2xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xbf16>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
  return
}

// -----

func.func @route_grad_float_indices(%l: tensor<?x?x8xf32>, %i: tensor<?x?x2xf32>, %dg: tensor<?x?x2xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor or memref of i32 or index values}}
  %0 = moa.route_grad %l, %i, %dg : tensor<?x?x8xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>
  return
}

// -----

func.func @route_grad_result_type(%l: tensor<2x3x8xf32>, %i: tensor<2x3x2xi32>, %dg: tensor<2x3x2xf32>) {
  // expected-error @+1 {{failed to verify that all of {logits, logits_grad} have same type}}
  %0 = "moa.route_grad"(%l, %i, %dg) : (tensor<2x3x8xf32>, tensor<2x3x2xi32>, tensor<2x3x2xf32>) -> tensor<2x3x4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.grouped_matmul_grad
//===----------------------------------------------------------------------===//

func.func @gmm_grad_input_rank(%x: tensor<?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{'input' must have rank 3 (shape [B, T, K] = [?, ?, ?]) but has type 'tensor<?x256xf32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
  return
}

// -----

func.func @gmm_grad_weight_shape(%x: tensor<?x?x256xf32>, %w: tensor<8x128x64xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{'weight' must have shape [E, K, N] = [?, 256, ?] but has type 'tensor<8x128x64xf32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x256xf32>, tensor<8x128x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
  return
}

// -----

func.func @gmm_grad_gates_shape(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x256xf32>, %g: tensor<?x?x3xf32>) {
  // expected-error @+1 {{'gates' must have shape [B, T, k] = [?, ?, 2] but has type 'tensor<?x?x3xf32>'}}
  %0:3 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x3xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32>
        -> tensor<?x?x3xf32>
  return
}

// -----

// With gates the result gradient has one row per token.
func.func @gmm_grad_combine_result_grad_rank(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>,
    %p: tensor<?xi32>, %o: tensor<9xi32>, %dy: tensor<?x?x2x256xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{'result_grad' must have rank 3 (shape [B, T, N] = [?, ?, 256]) but has type 'tensor<?x?x2x256xf32>'}}
  %0:3 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x256xf32>
        -> tensor<?x?x2xf32>
  return
}

// -----

func.func @gmm_grad_result_grad_shape(%x: tensor<4x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<4x?x2x32xf32>) {
  // expected-error @+1 {{'result_grad' must have shape [B, T, k, N] = [4, ?, ?, 64] but has type 'tensor<4x?x2x32xf32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<4x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<4x?x2x32xf32>
  return
}

// -----

func.func @gmm_grad_permutation(%x: tensor<3x4x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<12xi32>,
    %o: tensor<9xi32>, %dy: tensor<3x4x2x64xf32>) {
  // expected-error @+1 {{'permutation' must have shape [B*T*k] = [24] but has type 'tensor<12xi32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<3x4x256xf32>, tensor<8x256x64xf32>, tensor<12xi32>, tensor<9xi32>, tensor<3x4x2x64xf32>
  return
}

// -----

func.func @gmm_grad_offsets(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>,
    %o: tensor<8xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{'offsets' must have shape [E+1] = [9] but has type 'tensor<8xi32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<8xi32>, tensor<?x?x2x64xf32>
  return
}

// -----

func.func @gmm_grad_missing_gates_grad(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x256xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{must have one 'gates_grad' result with 'gates'}}
  %0:2 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32>
  return
}

// -----

func.func @gmm_grad_two_gates_grads(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x256xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{must have one 'gates_grad' result with 'gates'}}
  %0:4 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32>
        -> tensor<?x?x2xf32>, tensor<?x?x2xf32>
  return
}

// -----

func.func @gmm_grad_unexpected_gates_grad(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{must have no 'gates_grad' result without 'gates'}}
  %0:3 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
        -> tensor<?x?x2xf32>
  return
}

// -----

func.func @gmm_grad_gates_grad_type(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x256xf32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{'gates_grad' must have the type of 'gates'}}
  %0:3 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf32>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32>
        -> tensor<2x?x2xf32>
  return
}

// -----

func.func @gmm_grad_weight_element(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xbf16>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{'weight' must have element type 'f32' (the element type of 'input') but has type 'tensor<8x256x64xbf16>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x256xf32>, tensor<8x256x64xbf16>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
  return
}

// -----

func.func @gmm_grad_result_grad_element(%x: tensor<?x?x256xbf16>, %w: tensor<8x256x64xbf16>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x2x64xf32>) {
  // expected-error @+1 {{'result_grad' must have element type 'bf16' (the element type of 'input') but has type 'tensor<?x?x2x64xf32>'}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x256xbf16>, tensor<8x256x64xbf16>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x2x64xf32>
  return
}

// -----

func.func @gmm_grad_k_too_large(%x: tensor<?x?x16xf32>, %w: tensor<2x16x8xf32>, %p: tensor<?xi32>,
    %o: tensor<3xi32>, %dy: tensor<?x?x3x8xf32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0:2 = moa.grouped_matmul_grad %x, %w, %p, %o, %dy
      : tensor<?x?x16xf32>, tensor<2x16x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<?x?x3x8xf32>
  return
}

// -----

func.func @gmm_grad_f16_gates(%a: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>,
    %o: tensor<9xi32>, %dy: tensor<?x?x256xf32>, %g: tensor<?x?x2xf16>) {
  // expected-error @+1 {{operand #5 must be ranked tensor or memref of f32 values}}
  %0:3 = moa.grouped_matmul_grad %a, %w, %p, %o, %dy gates(%g : tensor<?x?x2xf16>)
      : tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>, tensor<?x?x256xf32>
        -> tensor<?x?x2xf16>
  return
}

// -----

func.func @gmm_grad_input_grad_type(%x: tensor<2x3x16xf32>, %w: tensor<4x16x8xf32>, %p: tensor<12xi32>,
    %o: tensor<5xi32>, %dy: tensor<2x3x2x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, input_grad} have same type}}
  %0:2 = "moa.grouped_matmul_grad"(%x, %w, %p, %o, %dy) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>}
      : (tensor<2x3x16xf32>, tensor<4x16x8xf32>, tensor<12xi32>, tensor<5xi32>, tensor<2x3x2x8xf32>)
        -> (tensor<2x3x8xf32>, tensor<4x16x8xf32>)
  return
}

// -----

func.func @gmm_grad_weight_grad_type(%x: tensor<2x3x16xf32>, %w: tensor<4x16x8xf32>, %p: tensor<12xi32>,
    %o: tensor<5xi32>, %dy: tensor<2x3x2x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {weight, weight_grad} have same type}}
  %0:2 = "moa.grouped_matmul_grad"(%x, %w, %p, %o, %dy) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>}
      : (tensor<2x3x16xf32>, tensor<4x16x8xf32>, tensor<12xi32>, tensor<5xi32>, tensor<2x3x2x8xf32>)
        -> (tensor<2x3x16xf32>, tensor<4x8x16xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.multi_query_attention_grad
//===----------------------------------------------------------------------===//

func.func @mqa_grad_query_rank(%q: tensor<?x?x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'query' must have rank 4 (shape [B, T, k, h] = [?, ?, ?, ?]) but has type 'tensor<?x?x64xf32>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q
      : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @mqa_grad_key_shape(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'key' must have shape [B, S, h] = [?, ?, 64] but has type 'tensor<?x?x32xf32>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q
      : tensor<?x?x2x64xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @mqa_grad_value_shape(%q: tensor<?x?x2x64xf32>, %k: tensor<?x7x64xf32>, %v: tensor<?x8x64xf32>) {
  // expected-error @+1 {{'value' must have shape [B, S, h] = [?, 7, 64] but has type 'tensor<?x8x64xf32>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q
      : tensor<?x?x2x64xf32>, tensor<?x7x64xf32>, tensor<?x8x64xf32>
  return
}

// -----

func.func @mqa_grad_mask_shape(%q: tensor<?x?x2x64xf32>, %k: tensor<?x7x64xf32>, %v: tensor<?x7x64xf32>,
    %m: tensor<?x5xi1>) {
  // expected-error @+1 {{'key_padding_mask' must have shape [B, S] = [?, 7] but has type 'tensor<?x5xi1>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q key_padding_mask(%m : tensor<?x5xi1>)
      : tensor<?x?x2x64xf32>, tensor<?x7x64xf32>, tensor<?x7x64xf32>
  return
}

// -----

func.func @mqa_grad_mask_element(%q: tensor<?x?x2x64xf32>, %k: tensor<?x7x64xf32>, %v: tensor<?x7x64xf32>,
    %m: tensor<?x7xi8>) {
  // expected-error @+1 {{operand #5 must be ranked tensor or memref of i1 values}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q key_padding_mask(%m : tensor<?x7xi8>)
      : tensor<?x?x2x64xf32>, tensor<?x7x64xf32>, tensor<?x7x64xf32>
  return
}

// -----

func.func @mqa_grad_key_element(%q: tensor<?x?x2x64xbf16>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'key' must have element type 'bf16' (the element type of 'query') but has type 'tensor<?x?x64xf32>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q
      : tensor<?x?x2x64xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @mqa_grad_value_element(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf16>) {
  // expected-error @+1 {{'value' must have element type 'f32' (the element type of 'query') but has type 'tensor<?x?x64xf16>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf16>
  return
}

// -----

func.func @mqa_grad_scale(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q {scale = -1.0 : f32}
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @mqa_grad_scale_zero(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q {scale = 0.0 : f32}
      : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

// The output and its gradient have the type of the query.
func.func @mqa_grad_result_grad_type(%q: tensor<2x3x2x8xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x5x8xf32>,
    %o: tensor<2x3x2x8xf32>, %do: tensor<2x3x1x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {query, result, result_grad, query_grad} have same type}}
  %0:3 = "moa.multi_query_attention_grad"(%q, %k, %v, %o, %do) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}>
      : (tensor<2x3x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x3x2x8xf32>, tensor<2x3x1x8xf32>)
        -> (tensor<2x3x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>)
  return
}

// -----

// The forward's log-sum-exp has the query's [B, T, k].
func.func @mqa_grad_lse_shape(%q: tensor<2x3x2x8xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x5x8xf32>,
    %lse: tensor<2x3x1xf32>) {
  // expected-error @+1 {{'lse' must have shape [B, T, k] = [2, 3, 2] but has type 'tensor<2x3x1xf32>'}}
  %0:3 = moa.multi_query_attention_grad %q, %k, %v, %q, %q lse(%lse : tensor<2x3x1xf32>)
      : tensor<2x3x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>
  return
}

// -----

func.func @mqa_grad_key_grad_type(%q: tensor<2x3x2x8xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x5x8xf32>) {
  // expected-error @+1 {{failed to verify that all of {key, key_grad} have same type}}
  %0:3 = "moa.multi_query_attention_grad"(%q, %k, %v, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}>
      : (tensor<2x3x2x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x3x2x8xf32>, tensor<2x3x2x8xf32>)
        -> (tensor<2x3x2x8xf32>, tensor<2x?x8xf32>, tensor<2x5x8xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// Auxiliary-loss gradients
//===----------------------------------------------------------------------===//

func.func @lb_grad_indices_shape(%l: tensor<2x5x8xf32>, %i: tensor<2x6x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, ?] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.load_balancing_loss_grad %l, %i, %d : tensor<2x5x8xf32>, tensor<2x6x2xi32>
  return
}

// -----

func.func @lb_grad_logits_rank(%l: tensor<10x8xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<10x8xf32>'}}
  %0 = moa.load_balancing_loss_grad %l, %i, %d : tensor<10x8xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @lb_grad_k_too_large(%l: tensor<?x?x2xf32>, %i: tensor<?x?x3xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0 = moa.load_balancing_loss_grad %l, %i, %d : tensor<?x?x2xf32>, tensor<?x?x3xi32>
  return
}

// -----

func.func @lb_grad_mask_shape(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>, %m: tensor<2x4xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, 5] but has type 'tensor<2x4xi1>'}}
  %0 = moa.load_balancing_loss_grad %l, %i, %d query_padding_mask(%m : tensor<2x4xi1>)
      : tensor<2x5x8xf32>, tensor<2x5x2xi32>
  return
}

// -----

// The loss gradient is a 0-d f32 tensor.
func.func @lb_grad_loss_grad_shape(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %d: tensor<1xf32>) {
  // expected-error @+1 {{operand #2 must be 0-d tensor or memref of f32}}
  %0 = "moa.load_balancing_loss_grad"(%l, %i, %d) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x5x8xf32>, tensor<2x5x2xi32>, tensor<1xf32>) -> tensor<2x5x8xf32>
  return
}

// -----

func.func @lb_grad_result_type(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{failed to verify that all of {logits, logits_grad} have same type}}
  %0 = "moa.load_balancing_loss_grad"(%l, %i, %d) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x5x8xf32>, tensor<2x5x2xi32>, tensor<f32>) -> tensor<?x5x8xf32>
  return
}

// -----

func.func @z_grad_logits_rank(%l: tensor<10x8xf32>, %d: tensor<f32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<10x8xf32>'}}
  %0 = moa.router_z_loss_grad %l, %d : tensor<10x8xf32>
  return
}

// -----

func.func @z_grad_mask_rank(%l: tensor<2x5x8xf32>, %d: tensor<f32>, %m: tensor<2x5x8xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have rank 2 (shape [B, T] = [2, 5]) but has type 'tensor<2x5x8xi1>'}}
  %0 = moa.router_z_loss_grad %l, %d query_padding_mask(%m : tensor<2x5x8xi1>) : tensor<2x5x8xf32>
  return
}

// -----

func.func @z_grad_f16_loss_grad(%l: tensor<2x5x8xf32>, %d: tensor<f16>) {
  // expected-error @+1 {{operand #1 must be 0-d tensor or memref of f32}}
  %0 = "moa.router_z_loss_grad"(%l, %d) {operandSegmentSizes = array<i32: 1, 1, 0>}
      : (tensor<2x5x8xf32>, tensor<f16>) -> tensor<2x5x8xf32>
  return
}

// -----

func.func @mi_grad_logits_rank(%l: tensor<10x8xf32>, %d: tensor<f32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<10x8xf32>'}}
  %0 = moa.mutual_information_loss_grad %l, %d : tensor<10x8xf32>
  return
}

// -----

func.func @mi_grad_mask_shape(%l: tensor<2x5x8xf32>, %d: tensor<f32>, %m: tensor<3x5xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, 5] but has type 'tensor<3x5xi1>'}}
  %0 = moa.mutual_information_loss_grad %l, %d query_padding_mask(%m : tensor<3x5xi1>) : tensor<2x5x8xf32>
  return
}

// -----

func.func @mi_grad_mask_rank(%l: tensor<2x5x8xf32>, %d: tensor<f32>, %m: tensor<10xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have rank 2 (shape [B, T] = [2, 5]) but has type 'tensor<10xi1>'}}
  %0 = moa.mutual_information_loss_grad %l, %d query_padding_mask(%m : tensor<10xi1>) : tensor<2x5x8xf32>
  return
}

// -----

// The loss gradient is a 0-d f32 tensor.
func.func @mi_grad_loss_grad_shape(%l: tensor<2x5x8xf32>, %d: tensor<1xf32>) {
  // expected-error @+1 {{operand #1 must be 0-d tensor or memref of f32}}
  %0 = "moa.mutual_information_loss_grad"(%l, %d) {operandSegmentSizes = array<i32: 1, 1, 0>}
      : (tensor<2x5x8xf32>, tensor<1xf32>) -> tensor<2x5x8xf32>
  return
}

// -----

func.func @mi_grad_result_type(%l: tensor<2x5x8xf32>, %d: tensor<f32>) {
  // expected-error @+1 {{failed to verify that all of {logits, logits_grad} have same type}}
  %0 = "moa.mutual_information_loss_grad"(%l, %d) {operandSegmentSizes = array<i32: 1, 1, 0>}
      : (tensor<2x5x8xf32>, tensor<f32>) -> tensor<?x5x8xf32>
  return
}

// -----

func.func @cv_grad_gates_rank(%g: tensor<10x2xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'gates' must have rank 3 (shape [B, T, k] = [?, ?, ?]) but has type 'tensor<10x2xf32>'}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(8) : tensor<10x2xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @cv_grad_indices_shape(%g: tensor<2x5x2xf32>, %i: tensor<2x6x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, 2] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(8) : tensor<2x5x2xf32>, tensor<2x6x2xi32>
  return
}

// -----

func.func @cv_grad_slots(%g: tensor<?x?x2xf32>, %i: tensor<?x?x1xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [?, ?, 2] but has type 'tensor<?x?x1xi32>'}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(8) : tensor<?x?x2xf32>, tensor<?x?x1xi32>
  return
}

// -----

func.func @cv_grad_indices_rank(%g: tensor<2x5x2xf32>, %i: tensor<2x5x2x1xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'indices' must have rank 3 (shape [B, T, k] = [2, 5, 2]) but has type 'tensor<2x5x2x1xi32>'}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(8) : tensor<2x5x2xf32>, tensor<2x5x2x1xi32>
  return
}

// -----

func.func @cv_grad_k_too_large(%g: tensor<?x?x3xf32>, %i: tensor<?x?x3xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(2) : tensor<?x?x3xf32>, tensor<?x?x3xi32>
  return
}

// -----

// k known from the indices alone.
func.func @cv_grad_k_from_indices(%g: tensor<?x?x?xf32>, %i: tensor<?x?x2xindex>, %d: tensor<f32>) {
  // expected-error @+1 {{k = 2 must be in [1, E] with E = 1}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(1) : tensor<?x?x?xf32>, tensor<?x?x2xindex>
  return
}

// -----

func.func @cv_grad_no_experts(%g: tensor<?x?x1xf32>, %i: tensor<?x?x1xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = moa.importance_cv_loss_grad %g, %i, %d experts(0) : tensor<?x?x1xf32>, tensor<?x?x1xi32>
  return
}

// -----

// The loss gradient is a 0-d f32 tensor.
func.func @cv_grad_loss_grad_shape(%g: tensor<2x5x2xf32>, %i: tensor<2x5x2xi32>, %d: tensor<1xf32>) {
  // expected-error @+1 {{operand #2 must be 0-d tensor or memref of f32}}
  %0 = "moa.importance_cv_loss_grad"(%g, %i, %d) {num_experts = 8 : i64}
      : (tensor<2x5x2xf32>, tensor<2x5x2xi32>, tensor<1xf32>) -> tensor<2x5x2xf32>
  return
}

// -----

func.func @cv_grad_result_type(%g: tensor<2x5x2xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{failed to verify that all of {gates, gates_grad} have same type}}
  %0 = "moa.importance_cv_loss_grad"(%g, %i, %d) {num_experts = 8 : i64}
      : (tensor<2x5x2xf32>, tensor<2x5x2xi32>, tensor<f32>) -> tensor<?x5x2xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.layer_norm and moa.layer_norm_grad
//===----------------------------------------------------------------------===//

func.func @layer_norm_rank0(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{'input' must have rank at least 1}}
  %0 = moa.layer_norm %x, %g, %g : tensor<f32>, tensor<1xf32>
  return
}

// -----

func.func @layer_norm_gamma_size(%x: tensor<?x?x256xf32>, %g: tensor<128xf32>) {
  // expected-error @+1 {{'gamma' must have shape [d] = [256] but has type 'tensor<128xf32>'}}
  %0 = moa.layer_norm %x, %g, %g : tensor<?x?x256xf32>, tensor<128xf32>
  return
}

// -----

func.func @layer_norm_gamma_rank(%x: tensor<?x?x256xf32>, %g: tensor<1x256xf32>) {
  // expected-error @+1 {{'gamma' must have rank 1 (shape [d] = [256]) but has type 'tensor<1x256xf32>'}}
  %0 = moa.layer_norm %x, %g, %g : tensor<?x?x256xf32>, tensor<1x256xf32>
  return
}

// -----

func.func @layer_norm_epsilon_zero(%x: tensor<?x?x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number}}
  %0 = moa.layer_norm %x, %g, %g {epsilon = 0.0 : f32} : tensor<?x?x256xf32>, tensor<256xf32>
  return
}

// -----

func.func @layer_norm_epsilon_negative(%x: tensor<?x?x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number}}
  %0 = moa.layer_norm %x, %g, %g {epsilon = -1.0e-5 : f32} : tensor<?x?x256xf32>, tensor<256xf32>
  return
}

// -----

func.func @layer_norm_epsilon_inf(%x: tensor<?x?x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number}}
  %0 = moa.layer_norm %x, %g, %g {epsilon = 0x7F800000 : f32} : tensor<?x?x256xf32>, tensor<256xf32>
  return
}

// -----

func.func @layer_norm_bf16(%x: tensor<?x?x256xbf16>, %g: tensor<256xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %0 = moa.layer_norm %x, %g, %g : tensor<?x?x256xbf16>, tensor<256xf32>
  return
}

// -----

func.func @layer_norm_beta_type(%x: tensor<4x256xf32>, %g: tensor<256xf32>, %b: tensor<?xf32>) {
  // expected-error @+1 {{failed to verify that all of {gamma, beta} have same type}}
  %0 = "moa.layer_norm"(%x, %g, %b) : (tensor<4x256xf32>, tensor<256xf32>, tensor<?xf32>) -> tensor<4x256xf32>
  return
}

// -----

func.func @layer_norm_result_type(%x: tensor<4x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result} have same type}}
  %0 = "moa.layer_norm"(%x, %g, %g) : (tensor<4x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @layer_norm_grad_rank0(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{'input' must have rank at least 1}}
  %0:3 = moa.layer_norm_grad %x, %g, %x : tensor<f32>, tensor<1xf32>
  return
}

// -----

func.func @layer_norm_grad_gamma_size(%x: tensor<4x256xf32>, %g: tensor<255xf32>) {
  // expected-error @+1 {{'gamma' must have shape [d] = [256] but has type 'tensor<255xf32>'}}
  %0:3 = moa.layer_norm_grad %x, %g, %x : tensor<4x256xf32>, tensor<255xf32>
  return
}

// -----

func.func @layer_norm_grad_epsilon(%x: tensor<4x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number}}
  %0:3 = moa.layer_norm_grad %x, %g, %x {epsilon = -1.0 : f32} : tensor<4x256xf32>, tensor<256xf32>
  return
}

// -----

func.func @layer_norm_grad_result_grad_type(%x: tensor<4x256xf32>, %g: tensor<256xf32>, %dy: tensor<4x?xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result_grad, input_grad} have same type}}
  %0:3 = "moa.layer_norm_grad"(%x, %g, %dy) : (tensor<4x256xf32>, tensor<256xf32>, tensor<4x?xf32>)
      -> (tensor<4x256xf32>, tensor<256xf32>, tensor<256xf32>)
  return
}

// -----

func.func @layer_norm_grad_beta_grad_type(%x: tensor<4x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{failed to verify that all of {gamma, gamma_grad, beta_grad} have same type}}
  %0:3 = "moa.layer_norm_grad"(%x, %g, %x) : (tensor<4x256xf32>, tensor<256xf32>, tensor<4x256xf32>)
      -> (tensor<4x256xf32>, tensor<256xf32>, tensor<4x256xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.embedding and moa.embedding_grad
//===----------------------------------------------------------------------===//

func.func @embedding_result_width(%ids: tensor<?x?xi32>, %t: tensor<64x256xf32>) {
  // expected-error @+1 {{'result' must have shape [B, T, d] = [?, ?, 256] but has type 'tensor<?x?x128xf32>'}}
  %0 = moa.embedding %ids, %t : tensor<?x?xi32>, tensor<64x256xf32> -> tensor<?x?x128xf32>
  return
}

// -----

func.func @embedding_result_batch(%ids: tensor<2x5xi32>, %t: tensor<64x256xf32>) {
  // expected-error @+1 {{'result' must have shape [B, T, d] = [2, 5, 256] but has type 'tensor<5x2x256xf32>'}}
  %0 = moa.embedding %ids, %t : tensor<2x5xi32>, tensor<64x256xf32> -> tensor<5x2x256xf32>
  return
}

// -----

func.func @embedding_result_rank(%ids: tensor<2x5xi32>, %t: tensor<64x256xf32>) {
  // expected-error @+1 {{'result' must have rank 3 (shape [B, T, d] = [2, 5, 256]) but has type 'tensor<10x256xf32>'}}
  %0 = moa.embedding %ids, %t : tensor<2x5xi32>, tensor<64x256xf32> -> tensor<10x256xf32>
  return
}

// -----

func.func @embedding_indices_rank(%ids: tensor<10xi32>, %t: tensor<64x256xf32>) {
  // expected-error @+1 {{'indices' must have rank 2 (shape [B, T] = [?, ?]) but has type 'tensor<10xi32>'}}
  %0 = moa.embedding %ids, %t : tensor<10xi32>, tensor<64x256xf32> -> tensor<?x?x256xf32>
  return
}

// -----

func.func @embedding_table_rank(%ids: tensor<?x?xi32>, %t: tensor<64x4x64xf32>) {
  // expected-error @+1 {{'table' must have rank 2 (shape [V, d] = [?, ?]) but has type 'tensor<64x4x64xf32>'}}
  %0 = moa.embedding %ids, %t : tensor<?x?xi32>, tensor<64x4x64xf32> -> tensor<?x?x256xf32>
  return
}

// -----

func.func @embedding_i64_ids(%ids: tensor<?x?xi64>, %t: tensor<64x256xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of i32 or index values}}
  %0 = moa.embedding %ids, %t : tensor<?x?xi64>, tensor<64x256xf32> -> tensor<?x?x256xf32>
  return
}

// -----

func.func @embedding_grad_result_grad(%ids: tensor<2x5xi32>, %t: tensor<64x256xf32>, %dx: tensor<2x5x128xf32>) {
  // expected-error @+1 {{'result_grad' must have shape [B, T, d] = [2, 5, 256] but has type 'tensor<2x5x128xf32>'}}
  %0 = moa.embedding_grad %ids, %t, %dx : tensor<2x5xi32>, tensor<64x256xf32>, tensor<2x5x128xf32>
  return
}

// -----

func.func @embedding_grad_indices_rank(%ids: tensor<2x5x1xi32>, %t: tensor<64x256xf32>, %dx: tensor<2x5x256xf32>) {
  // expected-error @+1 {{'indices' must have rank 2 (shape [B, T] = [?, ?]) but has type 'tensor<2x5x1xi32>'}}
  %0 = moa.embedding_grad %ids, %t, %dx : tensor<2x5x1xi32>, tensor<64x256xf32>, tensor<2x5x256xf32>
  return
}

// -----

func.func @embedding_grad_table_grad_type(%ids: tensor<2x5xi32>, %t: tensor<64x256xf32>, %dx: tensor<2x5x256xf32>) {
  // expected-error @+1 {{failed to verify that all of {table, table_grad} have same type}}
  %0 = "moa.embedding_grad"(%ids, %t, %dx) : (tensor<2x5xi32>, tensor<64x256xf32>, tensor<2x5x256xf32>)
      -> tensor<?x256xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.cross_entropy and moa.cross_entropy_grad
//===----------------------------------------------------------------------===//

func.func @cross_entropy_targets_shape(%l: tensor<2x5x64xf32>, %t: tensor<2x6xi32>) {
  // expected-error @+1 {{'targets' must have shape [B, T] = [2, 5] but has type 'tensor<2x6xi32>'}}
  %0 = moa.cross_entropy %l, %t : tensor<2x5x64xf32>, tensor<2x6xi32>
  return
}

// -----

func.func @cross_entropy_logits_rank(%l: tensor<10x64xf32>, %t: tensor<2x5xi32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, V] = [?, ?, ?]) but has type 'tensor<10x64xf32>'}}
  %0 = moa.cross_entropy %l, %t : tensor<10x64xf32>, tensor<2x5xi32>
  return
}

// -----

func.func @cross_entropy_result(%l: tensor<2x5x64xf32>, %t: tensor<2x5xi32>) {
  // expected-error @+1 {{result #0 must be 0-d tensor or memref of f32}}
  %0 = "moa.cross_entropy"(%l, %t) : (tensor<2x5x64xf32>, tensor<2x5xi32>) -> tensor<1xf32>
  return
}

// -----

func.func @cross_entropy_grad_targets_rank(%l: tensor<?x?x64xf32>, %t: tensor<?xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'targets' must have rank 2 (shape [B, T] = [?, ?]) but has type 'tensor<?xi32>'}}
  %0 = moa.cross_entropy_grad %l, %t, %d : tensor<?x?x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @cross_entropy_grad_logits_rank(%l: tensor<?x64xf32>, %t: tensor<?x?xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, V] = [?, ?, ?]) but has type 'tensor<?x64xf32>'}}
  %0 = moa.cross_entropy_grad %l, %t, %d : tensor<?x64xf32>, tensor<?x?xi32>
  return
}

// -----

func.func @cross_entropy_grad_result_type(%l: tensor<2x5x64xf32>, %t: tensor<2x5xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{failed to verify that all of {logits, logits_grad} have same type}}
  %0 = "moa.cross_entropy_grad"(%l, %t, %d) : (tensor<2x5x64xf32>, tensor<2x5xi32>, tensor<f32>)
      -> tensor<2x5x32xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.global_norm
//===----------------------------------------------------------------------===//

func.func @global_norm_no_input() {
  // expected-error @+1 {{needs at least one input}}
  %0 = "moa.global_norm"() : () -> tensor<f32>
  return
}

// -----

func.func @global_norm_bf16(%g: tensor<8xbf16>) {
  // expected-error @+1 {{operand #0 must be variadic of ranked tensor or memref of f32 values}}
  %0 = moa.global_norm %g : tensor<8xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// moa.adamw
//===----------------------------------------------------------------------===//

func.func @adamw_missing_lr(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{requires attribute 'lr'}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) : tensor<8xf32>
  return
}

// -----

func.func @adamw_lr_zero(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'lr' must be a positive finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 0.0 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_lr_negative(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'lr' must be a positive finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = -1.0e-3 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_lr_nan(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'lr' must be a positive finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 0x7FC00000 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_beta1_one(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'beta1' and 'beta2' must lie in [0, 1)}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, beta1 = 1.0 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_beta2_negative(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'beta1' and 'beta2' must lie in [0, 1)}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, beta2 = -0.5 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_beta2_nan(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'beta1' and 'beta2' must lie in [0, 1)}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, beta2 = 0x7FC00000 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_epsilon_zero(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'epsilon' must be a positive finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, epsilon = 0.0 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_weight_decay_negative(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'weight_decay' must be a non-negative finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, weight_decay = -0.01 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_weight_decay_inf(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'weight_decay' must be a non-negative finite number}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, weight_decay = 0x7F800000 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_max_grad_norm_negative(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'max_grad_norm' must be non-negative and finite (0 turns clipping off)}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, max_grad_norm = -1.0 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_max_grad_norm_nan(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'max_grad_norm' must be non-negative and finite (0 turns clipping off)}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, max_grad_norm = 0x7FC00000 : f32} : tensor<8xf32>
  return
}

// -----

func.func @adamw_warmup_negative(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'warmup_steps' must be non-negative}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32, warmup_steps = -1 : i64} : tensor<8xf32>
  return
}

// -----

func.func @adamw_grad_type(%p: tensor<8xf32>, %g: tensor<?xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{failed to verify that all of {param, grad, first_moment, second_moment} have same type}}
  %0:3 = "moa.adamw"(%p, %g, %p, %p, %s, %s) {lr = 1.0e-3 : f32}
      : (tensor<8xf32>, tensor<?xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>)
        -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_result_type(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{on tensors returns the new parameter and moments, three results of the type of 'param'}}
  %0:3 = "moa.adamw"(%p, %p, %p, %p, %s, %s) {lr = 1.0e-3 : f32}
      : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>)
        -> (tensor<8xf32>, tensor<?xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_no_results_on_tensors(%p: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{on tensors returns the new parameter and moments, three results of the type of 'param'}}
  "moa.adamw"(%p, %p, %p, %p, %s, %s) {lr = 1.0e-3 : f32}
      : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>) -> ()
  return
}

// -----

func.func @adamw_step_shape(%p: tensor<8xf32>, %s: tensor<1xf32>, %n: tensor<f32>) {
  // expected-error @+1 {{operand #4 must be 0-d tensor or memref of f32}}
  %0:3 = "moa.adamw"(%p, %p, %p, %p, %s, %n) {lr = 1.0e-3 : f32}
      : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<1xf32>, tensor<f32>)
        -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_bf16(%p: tensor<8xbf16>, %s: tensor<f32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %0:3 = moa.adamw %p, %p, %p, %p step(%s) norm(%s) {lr = 1.0e-3 : f32} : tensor<8xbf16>
  return
}
