// RUN: moa-opt %s -split-input-file -verify-diagnostics

func.func @layer_x_rank(%x: tensor<4x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'x' must have rank 3 (shape [B, T, d] = [?, ?, ?]) but has type 'tensor<4x256xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<4x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_memory_width(%x: tensor<2x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>, %m: tensor<2x7x128xf32>) {
  // expected-error @+1 {{'memory' must have shape [B, S, d] = [2, ?, 256] but has type 'tensor<2x7x128xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) memory(%m : tensor<2x7x128xf32>)
      : tensor<2x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_gate_width(%x: tensor<?x?x256xf32>, %wg: tensor<128x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'w_gate' must have shape [d, E] = [256, ?] but has type 'tensor<128x8xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<128x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_query_experts(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<4x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'w_query' must have shape [E, d, h] = [8, 256, ?] but has type 'tensor<4x256x64xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<4x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_key_head(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x32xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'w_key' must have shape [d, h] = [256, 64] but has type 'tensor<256x32xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x32xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_value_rank(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<8x256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'w_value' must have rank 2 (shape [d, h] = [256, 64]) but has type 'tensor<8x256x64xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<8x256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_out_transposed(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x256x64xf32>) {
  // expected-error @+1 {{'w_out' must have shape [E, h, d] = [8, 64, 256] but has type 'tensor<8x256x64xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x256x64xf32>
  return
}

// -----

func.func @layer_key_mask(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>, %kpm: tensor<2x6xi1>) {
  // Self-attention: S is T.
  // expected-error @+1 {{'key_padding_mask' must have shape [B, S] = [2, 5] but has type 'tensor<2x6xi1>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) key_padding_mask(%kpm : tensor<2x6xi1>)
      : tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return
}

// -----

func.func @layer_query_mask(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>, %qpm: tensor<5x2xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, 5] but has type 'tensor<5x2xi1>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) query_padding_mask(%qpm : tensor<5x2xi1>)
      : tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return
}

// -----

func.func @layer_memory_type(%x: tensor<2x5x16xbf16>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xbf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<4x8x16xbf16>, %m: tensor<2x3x16xf32>) {
  // expected-error @+1 {{'memory' must have element type 'bf16' (the element type of 'x') but has type 'tensor<2x3x16xf32>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) memory(%m : tensor<2x3x16xf32>)
      : tensor<2x5x16xbf16>, tensor<16x4xf32>, tensor<4x16x8xbf16>, tensor<16x8xbf16>, tensor<16x8xbf16>, tensor<4x8x16xbf16>
  return
}

// -----

func.func @layer_weight_type(%x: tensor<2x5x16xbf16>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<4x8x16xbf16>) {
  // expected-error @+1 {{'w_query' must have element type 'bf16' (the element type of 'x') but has type 'tensor<4x16x8xf16>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<2x5x16xbf16>, tensor<16x4xf32>, tensor<4x16x8xf16>, tensor<16x8xbf16>, tensor<16x8xbf16>, tensor<4x8x16xbf16>
  return
}

// -----

func.func @layer_gate_type(%x: tensor<2x5x16xbf16>, %wg: tensor<16x4xf16>, %wq: tensor<4x16x8xbf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<4x8x16xbf16>) {
  // expected-error @+1 {{'w_gate' must have element type 'bf16' (the element type of 'x', or f32) but has type 'tensor<16x4xf16>'}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<2x5x16xbf16>, tensor<16x4xf16>, tensor<4x16x8xbf16>, tensor<16x8xbf16>, tensor<16x8xbf16>, tensor<4x8x16xbf16>
  return
}

// -----

func.func @layer_k_too_large(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{k = 9 must be in [1, E] with E = 8}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(9)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_k_zero(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(0)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_scale(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) {scale = -1.0 : f32}
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_integer_x(%x: tensor<?x?x256xi32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xi32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return
}

// -----

func.func @layer_wrong_result_type(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) {
  // Router logits must be [B, T, E] = [2, 5, 4]; MLIR's result-type check reports it.
  // expected-error @+2 {{'moa.mixture_attention' op inferred type(s) 'tensor<2x5x16xf32>', 'tensor<2x5x4xf32>' are incompatible with return type(s) of operation 'tensor<2x5x16xf32>', 'tensor<2x5x8xf32>'}}
  // expected-error @+1 {{'moa.mixture_attention' op failed to infer returned types}}
  %y:2 = "moa.mixture_attention"(%x, %wg, %wq, %wk, %wv, %wo)
      <{k = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 0, 0, 0>}>
      : (tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>)
      -> (tensor<2x5x16xf32>, tensor<2x5x8xf32>)
  return
}

// -----

func.func @route_rank(%logits: tensor<?x8xf32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<?x8xf32>'}}
  %i, %g = moa.route %logits k(2) : tensor<?x8xf32>
  return
}

// -----

func.func @route_k(%logits: tensor<?x?x8xf32>) {
  // expected-error @+1 {{k = 9 must be in [1, E] with E = 8}}
  %i, %g = moa.route %logits k(9) : tensor<?x?x8xf32>
  return
}

// -----

func.func @route_mask(%logits: tensor<2x?x8xf32>, %m: tensor<3x?xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, ?] but has type 'tensor<3x?xi1>'}}
  %i, %g = moa.route %logits k(2) query_padding_mask(%m : tensor<3x?xi1>) : tensor<2x?x8xf32>
  return
}

// -----

func.func @route_bf16_logits(%logits: tensor<?x?x8xbf16>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %i, %g = moa.route %logits k(2) : tensor<?x?x8xbf16>
  return
}

// -----

func.func @route_missing_k(%logits: tensor<2x3x8xf32>) {
  // expected-error @+1 {{requires attribute 'k'}}
  %i, %g = "moa.route"(%logits) : (tensor<2x3x8xf32>) -> (tensor<2x3x2xi32>, tensor<2x3x2xf32>)
  return
}

// -----

func.func @dispatch_rank(%idx: tensor<?x2xi32>) {
  // expected-error @+1 {{'indices' must have rank 3 (shape [B, T, k] = [?, ?, ?]) but has type 'tensor<?x2xi32>'}}
  %p, %o = moa.dispatch %idx experts(8) : tensor<?x2xi32>
  return
}

// -----

func.func @dispatch_k(%idx: tensor<?x?x4xi32>) {
  // expected-error @+1 {{k = 4 must be in [1, E] with E = 2}}
  %p, %o = moa.dispatch %idx experts(2) : tensor<?x?x4xi32>
  return
}

// -----

func.func @dispatch_no_experts(%idx: tensor<?x?x1xi32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %p, %o = moa.dispatch %idx experts(0) : tensor<?x?x1xi32>
  return
}

// -----

func.func @dispatch_too_many_experts(%idx: tensor<?x?x1xi32>) {
  // expected-error @+1 {{num_experts = 2147483647 must be less than 2147483647}}
  %p, %o = moa.dispatch %idx experts(2147483647) : tensor<?x?x1xi32>
  return
}

// -----

func.func @dispatch_too_many_pairs(%idx: tensor<65536x65536x1xi32>) {
  // expected-error @+1 {{'indices' has more than 2147483647 (token, slot) pairs, which i32 'permutation' entries cannot address}}
  %p, %o = moa.dispatch %idx experts(4) : tensor<65536x65536x1xi32>
  return
}

// -----

func.func @grouped_matmul_input_rank(%x: tensor<?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'input' must have rank 3 (shape [B, T, K] = [?, ?, ?]) but has type 'tensor<?x256xf32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_weight(%x: tensor<?x?x256xf32>, %w: tensor<8x128x64xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'weight' must have shape [E, K, N] = [?, 256, ?] but has type 'tensor<8x128x64xf32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<8x128x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_gates(%x: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>, %g: tensor<?x?x3xf32>) {
  // expected-error @+1 {{'gates' must have shape [B, T, k] = [?, ?, 2] but has type 'tensor<?x?x3xf32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x3xf32>) : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x256xf32>
  return
}

// -----

func.func @grouped_matmul_combined_result(%x: tensor<?x?x2x64xf32>, %w: tensor<8x64x256xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>, %g: tensor<?x?x2xf32>) {
  // expected-error @+1 {{'result' must have rank 3 (shape [B, T, N] = [?, ?, 256]) but has type 'tensor<?x?x2x256xf32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x2xf32>) : (tensor<?x?x2x64xf32>, tensor<8x64x256xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x256xf32>
  return
}

// -----

func.func @grouped_matmul_scattered_result(%x: tensor<4x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'result' must have shape [B, T, k, N] = [4, ?, ?, 64] but has type 'tensor<4x?x2x32xf32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<4x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<4x?x2x32xf32>
  return
}

// -----

func.func @grouped_matmul_static_result_of_dynamic_input(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'result' dimension 0 (B) must be dynamic like the operand it comes from}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<64x?x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_permutation(%x: tensor<4x3x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<12xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'permutation' must have shape [B*T*k] = [24] but has type 'tensor<12xi32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<4x3x256xf32>, tensor<8x256x64xf32>, tensor<12xi32>, tensor<9xi32>) -> tensor<4x3x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_offsets(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>, %o: tensor<8xi32>) {
  // expected-error @+1 {{'offsets' must have shape [E+1] = [9] but has type 'tensor<8xi32>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<8xi32>) -> tensor<?x?x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_weight_type(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xbf16>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'weight' must have element type 'f32' (the element type of 'input') but has type 'tensor<8x256x64xbf16>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<8x256x64xbf16>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf32>
  return
}

// -----

func.func @grouped_matmul_result_type(%x: tensor<?x?x256xf32>, %w: tensor<8x256x64xf32>, %p: tensor<?xi32>, %o: tensor<9xi32>) {
  // expected-error @+1 {{'result' must have element type 'f32' (the element type of 'input') but has type 'tensor<?x?x2x64xf16>'}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<8x256x64xf32>, tensor<?xi32>, tensor<9xi32>) -> tensor<?x?x2x64xf16>
  return
}

// -----

func.func @grouped_matmul_k(%x: tensor<?x?x256xf32>, %w: tensor<2x256x64xf32>, %p: tensor<?xi32>, %o: tensor<3xi32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0 = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x256xf32>, tensor<2x256x64xf32>, tensor<?xi32>, tensor<3xi32>) -> tensor<?x?x3x64xf32>
  return
}

// -----

func.func @attention_query_rank(%q: tensor<?x?x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'query' must have rank 4 (shape [B, T, k, h] = [?, ?, ?, ?]) but has type 'tensor<?x?x64xf32>'}}
  %0 = moa.multi_query_attention %q, %k, %v : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_key_head(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'key' must have shape [B, S, h] = [?, ?, 64] but has type 'tensor<?x?x32xf32>'}}
  %0 = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x64xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_value_length(%q: tensor<?x?x2x64xf32>, %k: tensor<?x7x64xf32>, %v: tensor<?x8x64xf32>) {
  // expected-error @+1 {{'value' must have shape [B, S, h] = [?, 7, 64] but has type 'tensor<?x8x64xf32>'}}
  %0 = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x64xf32>, tensor<?x7x64xf32>, tensor<?x8x64xf32>
  return
}

// -----

func.func @attention_mask(%q: tensor<?x?x2x64xf32>, %k: tensor<?x7x64xf32>, %v: tensor<?x7x64xf32>, %m: tensor<?x5xi1>) {
  // expected-error @+1 {{'key_padding_mask' must have shape [B, S] = [?, 7] but has type 'tensor<?x5xi1>'}}
  %0 = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x5xi1>) : tensor<?x?x2x64xf32>, tensor<?x7x64xf32>, tensor<?x7x64xf32>
  return
}

// -----

func.func @attention_key_type(%q: tensor<?x?x2x64xbf16>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xbf16>) {
  // expected-error @+1 {{'key' must have element type 'bf16' (the element type of 'query') but has type 'tensor<?x?x64xf32>'}}
  %0 = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x64xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xbf16>
  return
}

// -----

func.func @attention_scale(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %0 = moa.multi_query_attention %q, %k, %v {scale = 0.0 : f32} : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return
}

// -----

func.func @load_balancing_tokens(%l: tensor<2x5x8xf32>, %i: tensor<2x6x2xi32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, ?] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.load_balancing_loss %l, %i : tensor<2x5x8xf32>, tensor<2x6x2xi32>
  return
}

// -----

func.func @load_balancing_k(%l: tensor<?x?x2xf32>, %i: tensor<?x?x3xi32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0 = moa.load_balancing_loss %l, %i : tensor<?x?x2xf32>, tensor<?x?x3xi32>
  return
}

// -----

func.func @load_balancing_mask(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %m: tensor<2x4xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, 5] but has type 'tensor<2x4xi1>'}}
  %0 = moa.load_balancing_loss %l, %i query_padding_mask(%m : tensor<2x4xi1>) : tensor<2x5x8xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @load_balancing_statistics(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %s: tensor<2x4xf32>) {
  // expected-error @+1 {{'statistics' must have shape [2, E] = [2, 8] but has type 'tensor<2x4xf32>'}}
  %0 = moa.load_balancing_loss %l, %i statistics(%s : tensor<2x4xf32>) : tensor<2x5x8xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @load_balancing_grad_statistics(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>, %d: tensor<f32>, %s: tensor<3x8xf32>) {
  // expected-error @+1 {{'statistics' must have shape [2, E] = [2, 8] but has type 'tensor<3x8xf32>'}}
  %0 = moa.load_balancing_loss_grad %l, %i, %d statistics(%s : tensor<3x8xf32>) : tensor<2x5x8xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @routing_statistics_tokens(%l: tensor<2x5x8xf32>, %i: tensor<2x6x2xi32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, ?] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.routing_statistics %l, %i : tensor<2x5x8xf32>, tensor<2x6x2xi32>
  return
}

// -----

func.func @routing_statistics_result(%l: tensor<2x5x8xf32>, %i: tensor<2x5x2xi32>) {
  // expected-error @+1 {{'statistics' must have shape [2, E] = [2, 8] but has type 'tensor<2x4xf32>'}}
  %0 = "moa.routing_statistics"(%l, %i) : (tensor<2x5x8xf32>, tensor<2x5x2xi32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @z_loss_rank(%l: tensor<10x8xf32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<10x8xf32>'}}
  %0 = moa.router_z_loss %l : tensor<10x8xf32>
  return
}

// -----

func.func @z_loss_mask(%l: tensor<2x5x8xf32>, %m: tensor<2x5x8xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have rank 2 (shape [B, T] = [2, 5]) but has type 'tensor<2x5x8xi1>'}}
  %0 = moa.router_z_loss %l query_padding_mask(%m : tensor<2x5x8xi1>) : tensor<2x5x8xf32>
  return
}

// -----

func.func @mutual_information_rank(%l: tensor<10x8xf32>) {
  // expected-error @+1 {{'logits' must have rank 3 (shape [B, T, E] = [?, ?, ?]) but has type 'tensor<10x8xf32>'}}
  %0 = moa.mutual_information_loss %l : tensor<10x8xf32>
  return
}

// -----

func.func @mutual_information_mask(%l: tensor<2x5x8xf32>, %m: tensor<2x4xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, 5] but has type 'tensor<2x4xi1>'}}
  %0 = moa.mutual_information_loss %l query_padding_mask(%m : tensor<2x4xi1>) : tensor<2x5x8xf32>
  return
}

// -----

func.func @mutual_information_mask_rank(%l: tensor<?x5x8xf32>, %m: tensor<2x5x8xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have rank 2 (shape [B, T] = [?, 5]) but has type 'tensor<2x5x8xi1>'}}
  %0 = moa.mutual_information_loss %l query_padding_mask(%m : tensor<2x5x8xi1>) : tensor<?x5x8xf32>
  return
}

// -----

func.func @mutual_information_f16(%l: tensor<2x5x8xf16>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %0 = "moa.mutual_information_loss"(%l) : (tensor<2x5x8xf16>) -> tensor<f32>
  return
}

// -----

func.func @importance_cv_gates_rank(%g: tensor<10x2xf32>, %i: tensor<2x5x2xi32>) {
  // expected-error @+1 {{'gates' must have rank 3 (shape [B, T, k] = [?, ?, ?]) but has type 'tensor<10x2xf32>'}}
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<10x2xf32>, tensor<2x5x2xi32>
  return
}

// -----

func.func @importance_cv_tokens(%g: tensor<2x5x2xf32>, %i: tensor<2x6x2xi32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [2, 5, 2] but has type 'tensor<2x6x2xi32>'}}
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<2x5x2xf32>, tensor<2x6x2xi32>
  return
}

// -----

func.func @importance_cv_slots(%g: tensor<?x?x2xf32>, %i: tensor<?x?x3xi32>) {
  // expected-error @+1 {{'indices' must have shape [B, T, k] = [?, ?, 2] but has type 'tensor<?x?x3xi32>'}}
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<?x?x2xf32>, tensor<?x?x3xi32>
  return
}

// -----

func.func @importance_cv_indices_rank(%g: tensor<2x5x2xf32>, %i: tensor<10x2xi32>) {
  // expected-error @+1 {{'indices' must have rank 3 (shape [B, T, k] = [2, 5, 2]) but has type 'tensor<10x2xi32>'}}
  %0 = moa.importance_cv_loss %g, %i experts(8) : tensor<2x5x2xf32>, tensor<10x2xi32>
  return
}

// -----

func.func @importance_cv_k(%g: tensor<?x?x3xf32>, %i: tensor<?x?x3xi32>) {
  // expected-error @+1 {{k = 3 must be in [1, E] with E = 2}}
  %0 = moa.importance_cv_loss %g, %i experts(2) : tensor<?x?x3xf32>, tensor<?x?x3xi32>
  return
}

// -----

// k known from the indices alone.
func.func @importance_cv_k_from_indices(%g: tensor<?x?x?xf32>, %i: tensor<4x?x5xindex>) {
  // expected-error @+1 {{k = 5 must be in [1, E] with E = 4}}
  %0 = moa.importance_cv_loss %g, %i experts(4) : tensor<?x?x?xf32>, tensor<4x?x5xindex>
  return
}

// -----

func.func @importance_cv_no_experts(%g: tensor<?x?x1xf32>, %i: tensor<?x?x1xi32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = moa.importance_cv_loss %g, %i experts(0) : tensor<?x?x1xf32>, tensor<?x?x1xi32>
  return
}

// -----

func.func @importance_cv_f16_gates(%g: tensor<2x5x2xf16>, %i: tensor<2x5x2xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor or memref of f32 values}}
  %0 = "moa.importance_cv_loss"(%g, %i) {num_experts = 8 : i64}
      : (tensor<2x5x2xf16>, tensor<2x5x2xi32>) -> tensor<f32>
  return
}

// -----

// expected-error @+1 {{expected '<'}}
func.func @bad_gating(%logits: tensor<?x?x8xf32>) attributes {g = #moa.gating} {
  return
}

// -----

func.func @unknown_gating(%logits: tensor<?x?x8xf32>) {
  // expected-error @+2 {{expected ::mlir::moa::Gating to be one of: softmax_topk, topk_softmax}}
  // expected-error @+1 {{failed to parse MoA_GatingAttr parameter 'value'}}
  %i, %g = moa.route %logits k(2) {gating = #moa.gating<sigmoid>} : tensor<?x?x8xf32>
  return
}

// -----

func.func @record_routing_rank(%indices: memref<?x?xi32>, %experts: index) {
  // expected-error @+1 {{'moa.record_routing' op operand #0 must be 3D memref of 32-bit signless integer values, but got 'memref<?x?xi32>'}}
  moa.record_routing %indices experts(%experts) : memref<?x?xi32>
  return
}

// -----

func.func @error_word_type() {
  // expected-error @+1 {{'moa.error_word' must be a unit attribute on an op whose first result is the error word, a memref<1xi32>}}
  %err = gpu.alloc () {moa.error_word} : memref<2xi32>
  return
}

// -----

func.func @error_word_value() {
  // expected-error @+1 {{'moa.error_word' must be a unit attribute}}
  %err = gpu.alloc () {moa.error_word = 1 : i32} : memref<1xi32>
  return
}

// -----

func.func @manifest_not_module() attributes {moa.manifest = "x"} {
  // expected-error @-1 {{'moa.manifest' must be a string attribute of a module}}
  return
}

// -----

// expected-error @+1 {{'moa.ranks' must be a positive integer attribute of a module}}
module attributes {moa.ranks = 0 : i64} {
}

// -----

// expected-error @+1 {{unknown moa attribute 'moa.error_words' (moa defines 'moa.error_word', 'moa.manifest' and 'moa.ranks' on ops)}}
module attributes {moa.error_words} {
}

// -----

func.func @project_route_width(%x: tensor<?x?x256xf32>, %wg: tensor<128x8xf32>) {
  // expected-error @+1 {{'w_gate' must have shape [d, E] = [256, ?] but has type 'tensor<128x8xf32>'}}
  %l, %i, %g = moa.project_route %x, %wg k(2) : tensor<?x?x256xf32>, tensor<128x8xf32>
  return
}

// -----

func.func @project_route_k(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>) {
  // expected-error @+1 {{k = 9 must be in [1, E] with E = 8}}
  %l, %i, %g = moa.project_route %x, %wg k(9) : tensor<?x?x256xf32>, tensor<256x8xf32>
  return
}

// -----

func.func @project_route_mask(%x: tensor<2x?x256xf32>, %wg: tensor<256x8xf32>, %m: tensor<3x?xi1>) {
  // expected-error @+1 {{'query_padding_mask' must have shape [B, T] = [2, ?] but has type 'tensor<3x?xi1>'}}
  %l, %i, %g = moa.project_route %x, %wg k(2) query_padding_mask(%m : tensor<3x?xi1>) : tensor<2x?x256xf32>, tensor<256x8xf32>
  return
}

// -----

func.func @key_value_width(%x: tensor<?x?x256xf32>, %wk: tensor<256x64xf32>, %wv: tensor<256x32xf32>) {
  // expected-error @+1 {{'moa.key_value_projection' op failed to verify that all of {w_key, w_value} have same type}}
  %k, %v = "moa.key_value_projection"(%x, %wk, %wv) : (tensor<?x?x256xf32>, tensor<256x64xf32>, tensor<256x32xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>)
  return
}

// -----

func.func @key_value_depth(%x: tensor<?x?x256xf32>, %wk: tensor<128x64xf32>) {
  // expected-error @+1 {{'w_key' must have shape [d, h] = [256, ?] but has type 'tensor<128x64xf32>'}}
  %k, %v = moa.key_value_projection %x, %wk, %wk : tensor<?x?x256xf32>, tensor<128x64xf32>
  return
}

// -----

func.func @mixed_forms(%l: memref<?x?x8xf32>, %m: tensor<?x?xi1>) {
  // expected-error @+1 {{'moa.route' op must have tensors or memrefs (its bufferized form) as operands and results, not both}}
  %i, %g = moa.route %l k(2) query_padding_mask(%m : tensor<?x?xi1>) : memref<?x?x8xf32>
  return
}

// -----

func.func @strided_buffer(%l: memref<?x?x8xf32, strided<[?, ?, 1], offset: ?>>) {
  // expected-error @+1 {{'moa.route' op buffers must have the identity layout (copy a strided view into a fresh buffer first)}}
  %i, %g = moa.route %l k(2) : memref<?x?x8xf32, strided<[?, ?, 1], offset: ?>>
  return
}

// -----

// A misspelled attribute is an error, with the closest real name.
func.func @misspelled_attribute(%l: tensor<?x?x8xf32>) -> tensor<?x?x2xf32> {
  // expected-error @+1 {{'moa.route' op has no attribute 'renormalise'; did you mean 'renormalize'?}}
  %i, %g = moa.route %l k(2) {renormalise} : tensor<?x?x8xf32>
  return %g : tensor<?x?x2xf32>
}

// -----

// An attribute far from every real name lists them.
func.func @unknown_attribute(%i: tensor<?x?x2xi32>) -> tensor<?xi32> {
  // expected-error @+1 {{'moa.dispatch' op has no attribute 'fast' (its attributes: num_experts)}}
  %p, %o = moa.dispatch %i experts(8) {fast} : tensor<?x?x2xi32>
  return %p : tensor<?xi32>
}

// -----

func.func @layer_zero_head(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x0xf32>,
    %wk: tensor<16x0xf32>, %wv: tensor<16x0xf32>, %wo: tensor<4x0x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{'moa.mixture_attention' op size h = 0: it must be at least 1}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x0xf32>, tensor<16x0xf32>, tensor<16x0xf32>, tensor<4x0x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @layer_zero_model(%x: tensor<?x?x0xf32>, %wg: tensor<0x4xf32>, %wq: tensor<4x0x8xf32>,
    %wk: tensor<0x8xf32>, %wv: tensor<0x8xf32>, %wo: tensor<4x8x0xf32>) -> tensor<?x?x0xf32> {
  // expected-error @+1 {{'moa.mixture_attention' op size d = 0: it must be at least 1}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x0xf32>, tensor<0x4xf32>, tensor<4x0x8xf32>, tensor<0x8xf32>, tensor<0x8xf32>, tensor<4x8x0xf32>
  return %y : tensor<?x?x0xf32>
}

// -----

func.func @attention_zero_head(%q: tensor<?x?x2x0xf32>, %k: tensor<?x?x0xf32>, %v: tensor<?x?x0xf32>) -> tensor<?x?x2x0xf32> {
  // expected-error @+1 {{'moa.multi_query_attention' op size h = 0: it must be at least 1}}
  %o = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x0xf32>, tensor<?x?x0xf32>, tensor<?x?x0xf32>
  return %o : tensor<?x?x2x0xf32>
}
