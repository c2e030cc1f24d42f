// RUN: moa-opt %s -split-input-file -verify-diagnostics

func.func @cache_write_batch(%k: tensor<3x1x64xf32>, %c: tensor<4x16x64xf32>, %o: tensor<3xi32>) {
  // expected-error @+1 {{'cache' must have shape [B, S, h] = [3, ?, 64] but has type 'tensor<4x16x64xf32>'}}
  %0 = moa.cache_write %k, %o into %c : tensor<3x1x64xf32>, tensor<3xi32> into tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

func.func @cache_write_offsets(%k: tensor<?x1x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?x?xi32>) {
  // expected-error @+1 {{'offsets' must have rank 1 (shape [B] = [?]) but has type 'tensor<?x?xi32>'}}
  %0 = moa.cache_write %k, %o into %c : tensor<?x1x64xf32>, tensor<?x?xi32> into tensor<?x16x64xf32> -> tensor<?x16x64xf32>
  return
}

// -----

func.func @cache_write_type(%k: tensor<?x1x64xbf16>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'update' must have element type 'f32' (the element type of 'cache') but has type 'tensor<?x1x64xbf16>'}}
  %0 = moa.cache_write %k, %o into %c : tensor<?x1x64xbf16>, tensor<?xi32> into tensor<?x16x64xf32> -> tensor<?x16x64xf32>
  return
}

// -----

func.func @cache_write_too_long(%k: tensor<?x17x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'update' has T = 17 tokens per sequence, more than the cache's S = 16 rows}}
  %0 = moa.cache_write %k, %o into %c : tensor<?x17x64xf32>, tensor<?xi32> into tensor<?x16x64xf32> -> tensor<?x16x64xf32>
  return
}

// -----

func.func @cache_write_no_result(%k: tensor<?x1x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{on tensors returns the updated cache}}
  moa.cache_write %k, %o into %c : tensor<?x1x64xf32>, tensor<?xi32> into tensor<?x16x64xf32>
  return
}

// -----

func.func @cache_write_result_type(%k: tensor<?x1x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{result must have the type of 'cache' ('tensor<?x16x64xf32>')}}
  %0 = moa.cache_write %k, %o into %c : tensor<?x1x64xf32>, tensor<?xi32> into tensor<?x16x64xf32> -> tensor<?x32x64xf32>
  return
}

// -----

func.func @cache_write_mixed(%k: memref<2x1x64xf32>, %c: tensor<2x16x64xf32>, %o: memref<2xi32>) {
  // expected-error @+1 {{must have tensors or memrefs (its bufferized form) as operands and results, not both}}
  %0 = moa.cache_write %k, %o into %c : memref<2x1x64xf32>, memref<2xi32> into tensor<2x16x64xf32> -> tensor<2x16x64xf32>
  return
}

// -----

func.func @cached_attention_head(%q: tensor<?x1x2x32xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'key_cache' must have shape [B, S, h] = [?, ?, 32] but has type 'tensor<?x16x64xf32>'}}
  %0 = moa.cached_attention %q, %c, %c, %o : tensor<?x1x2x32xf32>, tensor<?x16x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @cached_attention_offsets(%q: tensor<3x1x2x64xf32>, %c: tensor<3x16x64xf32>, %o: tensor<2xi32>) {
  // expected-error @+1 {{'offsets' must have shape [B] = [3] but has type 'tensor<2xi32>'}}
  %0 = moa.cached_attention %q, %c, %c, %o : tensor<3x1x2x64xf32>, tensor<3x16x64xf32>, tensor<2xi32>
  return
}

// -----

func.func @cached_attention_type(%q: tensor<?x1x2x64xbf16>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'key_cache' must have element type 'bf16' (the element type of 'query') but has type 'tensor<?x16x64xf32>'}}
  %0 = moa.cached_attention %q, %c, %c, %o : tensor<?x1x2x64xbf16>, tensor<?x16x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @cached_attention_too_long(%q: tensor<?x20x2x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'query' has T = 20 tokens per sequence, more than the cache's S = 16 rows}}
  %0 = moa.cached_attention %q, %c, %c, %o : tensor<?x20x2x64xf32>, tensor<?x16x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @cached_attention_scale(%q: tensor<?x1x2x64xf32>, %c: tensor<?x16x64xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{'scale' must be a positive finite number}}
  %0 = moa.cached_attention %q, %c, %c, %o {scale = -1.0 : f32} : tensor<?x1x2x64xf32>, tensor<?x16x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @cached_attention_zero_head(%q: tensor<?x1x2x0xf32>, %c: tensor<?x16x0xf32>, %o: tensor<?xi32>) {
  // expected-error @+1 {{size h = 0: it must be at least 1}}
  %0 = moa.cached_attention %q, %c, %c, %o : tensor<?x1x2x0xf32>, tensor<?x16x0xf32>, tensor<?xi32>
  return
}
