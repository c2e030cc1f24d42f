// RUN: moa-opt %s -split-input-file -verify-diagnostics

func.func @mha_x_rank(%x: tensor<4x32xf32>, %w: tensor<32x4x8xf32>, %wo: tensor<4x8x32xf32>) {
  // expected-error @+1 {{'x' must have rank 3 (shape [B, T, d] = [?, ?, ?]) but has type 'tensor<4x32xf32>'}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo
      : tensor<4x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_memory_width(%x: tensor<2x?x32xf32>, %w: tensor<32x4x8xf32>, %wo: tensor<4x8x32xf32>,
    %m: tensor<2x7x16xf32>) {
  // expected-error @+1 {{'memory' must have shape [B, S, d] = [2, ?, 32] but has type 'tensor<2x7x16xf32>'}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo memory(%m : tensor<2x7x16xf32>)
      : tensor<2x?x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_query_width(%x: tensor<?x?x32xf32>, %wq: tensor<16x4x8xf32>, %w: tensor<32x4x8xf32>,
    %wo: tensor<4x8x32xf32>) {
  // expected-error @+1 {{'w_query' must have shape [d, H, h] = [32, ?, ?] but has type 'tensor<16x4x8xf32>'}}
  %y = moa.multi_head_attention %x, %wq, %w, %w, %wo
      : tensor<?x?x32xf32>, tensor<16x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_key_heads(%x: tensor<?x?x32xf32>, %w: tensor<32x4x8xf32>, %wk: tensor<32x2x8xf32>,
    %wo: tensor<4x8x32xf32>) {
  // expected-error @+1 {{'w_key' must have shape [d, H, h] = [32, 4, 8] but has type 'tensor<32x2x8xf32>'}}
  %y = moa.multi_head_attention %x, %w, %wk, %w, %wo
      : tensor<?x?x32xf32>, tensor<32x4x8xf32>, tensor<32x2x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_value_rank(%x: tensor<?x?x32xf32>, %w: tensor<32x4x8xf32>, %wv: tensor<32x32xf32>,
    %wo: tensor<4x8x32xf32>) {
  // expected-error @+1 {{'w_value' must have rank 3 (shape [d, H, h] = [32, 4, 8]) but has type 'tensor<32x32xf32>'}}
  %y = moa.multi_head_attention %x, %w, %w, %wv, %wo
      : tensor<?x?x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x32xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_out_shape(%x: tensor<?x?x32xf32>, %w: tensor<32x4x8xf32>, %wo: tensor<4x32x8xf32>) {
  // expected-error @+1 {{'w_out' must have shape [H, h, d] = [4, 8, 32] but has type 'tensor<4x32x8xf32>'}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo
      : tensor<?x?x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x32x8xf32>
  return
}

// -----

func.func @mha_mask_shape(%x: tensor<2x5x32xf32>, %w: tensor<32x4x8xf32>, %wo: tensor<4x8x32xf32>,
    %kpm: tensor<2x6xi1>) {
  // expected-error @+1 {{'key_padding_mask' must have shape [B, S] = [2, 5] but has type 'tensor<2x6xi1>'}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo key_padding_mask(%kpm : tensor<2x6xi1>)
      : tensor<2x5x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}

// -----

func.func @mha_element_type(%x: tensor<?x?x32xbf16>, %w: tensor<32x4x8xbf16>, %wv: tensor<32x4x8xf32>,
    %wo: tensor<4x8x32xbf16>) {
  // expected-error @+1 {{'w_value' must have element type 'bf16' (the element type of 'x') but has type 'tensor<32x4x8xf32>'}}
  %y = moa.multi_head_attention %x, %w, %w, %wv, %wo
      : tensor<?x?x32xbf16>, tensor<32x4x8xbf16>, tensor<32x4x8xbf16>, tensor<32x4x8xf32>, tensor<4x8x32xbf16>
  return
}

// -----

func.func @mha_no_heads(%x: tensor<?x?x32xf32>, %w: tensor<32x0x8xf32>, %wo: tensor<0x8x32xf32>) {
  // expected-error @+1 {{size H = 0: it must be at least 1}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo
      : tensor<?x?x32xf32>, tensor<32x0x8xf32>, tensor<32x0x8xf32>, tensor<32x0x8xf32>, tensor<0x8x32xf32>
  return
}

// -----

func.func @mha_scale(%x: tensor<?x?x32xf32>, %w: tensor<32x4x8xf32>, %wo: tensor<4x8x32xf32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %y = moa.multi_head_attention %x, %w, %w, %w, %wo {scale = -1.0 : f32}
      : tensor<?x?x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return
}
