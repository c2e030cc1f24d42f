// RUN: moa-opt %s -split-input-file -moa-lower-to-gpu -verify-diagnostics

func.func @layer_not_decomposed(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{run moa-decompose before moa-lower-to-gpu}}
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @dynamic_head_size(%q: tensor<?x?x2x?xf32>, %k: tensor<?x?x?xf32>, %v: tensor<?x?x?xf32>)
    -> tensor<?x?x2x?xf32> {
  // expected-error @+1 {{'moa.multi_query_attention' op needs a static head size h for the GPU}}
  %o = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>
  return %o : tensor<?x?x2x?xf32>
}

// -----

func.func @head_too_large(%q: tensor<?x?x2x256xf32>, %k: tensor<?x?x256xf32>, %v: tensor<?x?x256xf32>)
    -> tensor<?x?x2x256xf32> {
  // expected-error @+1 {{'moa.multi_query_attention' op head size 256 needs 65536 bytes of shared memory per key tile on the GPU (at most 49152)}}
  %o = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>
  return %o : tensor<?x?x2x256xf32>
}

// -----

func.func @index_typed_dispatch(%i: tensor<?x?x2xindex>) -> tensor<?xi32> {
  // expected-error @+1 {{cannot lower to the GPU: index operands (indices, permutation, offsets) must be i32}}
  %p, %o = moa.dispatch %i experts(8) : tensor<?x?x2xindex>
  return %p : tensor<?xi32>
}

// -----

func.func @elementwise(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  // expected-error @+1 {{'linalg.add' has no GPU lowering yet (the GPU runs the moa ops of models, their gradients and AdamW, and linalg's elementwise ops, small reductions, row projections and their weight gradients): compile this module with --target=cpu}}
  %c = linalg.add ins(%a, %b : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

func.func @decode_many_slots(%q: tensor<?x1x33x16xf32>, %c: tensor<?x64x16xf32>, %o: tensor<?xi32>) -> tensor<?x1x33x16xf32> {
  // expected-error @+1 {{'moa.cached_attention' op k = 33 query slots per token; the GPU decoding kernel takes at most 32}}
  %r = moa.cached_attention %q, %c, %c, %o : tensor<?x1x33x16xf32>, tensor<?x64x16xf32>, tensor<?xi32>
  return %r : tensor<?x1x33x16xf32>
}

// -----

func.func @cache_write_tensors(%u: tensor<?x1x16xf32>, %o: tensor<?xi32>, %c: tensor<?x64x16xf32>) -> tensor<?x64x16xf32> {
  // expected-error @+1 {{moa.cache_write is lowered to the GPU in buffer form (writing the cache in place): bufferize first}}
  %r = moa.cache_write %u, %o into %c : tensor<?x1x16xf32>, tensor<?xi32> into tensor<?x64x16xf32> -> tensor<?x64x16xf32>
  return %r : tensor<?x64x16xf32>
}

// -----

func.func @buffer_in_loop(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{a buffer allocated inside a loop or branch has no device placement yet: compile with --target=cpu}}
    %a = memref.alloc() : memref<4xf32>
  }
  return
}

// -----

func.func @host_read(%x: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  // expected-error @+1 {{the host would access a device buffer here: this op has no GPU lowering yet (compile with --target=cpu)}}
  %v = memref.load %a[%c0] : memref<4xf32>
  return %v : f32
}

// -----

func.func @host_alloca(%x: memref<4xf32>) {
  // expected-error @+1 {{a kernel reads this host buffer: it has no device placement (compile with --target=cpu)}}
  %a = memref.alloca() : memref<4xf32>
  linalg.copy ins(%a : memref<4xf32>) outs(%x : memref<4xf32>)
  return
}
