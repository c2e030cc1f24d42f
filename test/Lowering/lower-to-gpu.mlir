// RUN: moa-opt %s -split-input-file -moa-lower-to-gpu | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-lower-to-gpu="gemm-rows=32 gemm-cols=64 gemm-depth=16 attention-keys=32" | FileCheck %s --check-prefix=TILES

// moa.project_route is one kernel, one warp per token: the router
// projection in f32, softmax statistics and top-k by shuffles. The results
// are device buffers; failures go to the device error word, the routing to
// moa.record_routing.
// CHECK-LABEL: func.func @router
// CHECK: %[[ERR:.*]] = gpu.alloc () {moa.error_word} : memref<1xi32>
// CHECK: gpu.memset  %[[ERR]]
// CHECK-NOT: moa.project_route
// CHECK: %[[LOGITS:.*]] = gpu.alloc (%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in (%{{.*}} = %c128, {{.*}}) module(@moa_kernels) function(@moa_router) {
// CHECK: gpu.shuffle  xor
// CHECK-NOT: gpu.launch
// CHECK: moa.record_routing %[[IDX:.*]] experts(%{{.*}}) : memref<?x?x?xi32>
// CHECK: bufferization.to_tensor %[[LOGITS]] restrict writable
func.func @router(%x: tensor<?x?x16xbf16>, %wg: tensor<16x8xf32>)
    -> (tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %l, %i, %g = moa.project_route %x, %wg k(2) : tensor<?x?x16xbf16>, tensor<16x8xf32>
  return %l, %i, %g : tensor<?x?x8xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
}

// -----

// Routing given logits: the same kernel without the projection.
// CHECK-LABEL: func.func @route
// CHECK: gpu.launch {{.*}} function(@moa_route) {
// CHECK: gpu.shuffle  xor
func.func @route(%l: tensor<?x?x8xf32>, %m: tensor<?x?xi1>) -> (tensor<?x?x2xi32>, tensor<?x?x2xf32>) {
  %i, %g = moa.route %l k(2) query_padding_mask(%m : tensor<?x?xi1>) {gating = #moa.gating<topk_softmax>} : tensor<?x?x8xf32>
  return %i, %g : tensor<?x?x2xi32>, tensor<?x?x2xf32>
}

// -----

// Dispatch on the device: histogram (atomics into zeroed counts), a scan,
// and a stable scatter with one block per expert (and one for index -1).
// CHECK-LABEL: func.func @dispatch
// CHECK: gpu.alloc  (%c9) : memref<?xi32>
// CHECK: %[[COUNTS:.*]] = gpu.alloc  (%c9) : memref<?xi32>
// CHECK-NEXT: gpu.memset  %[[COUNTS]]
// CHECK: gpu.launch {{.*}} function(@moa_dispatch_count) {
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.launch {{.*}} function(@moa_dispatch_scan) {
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c9, {{.*}}) threads({{.*}}) in (%{{.*}} = %c256, {{.*}}) module(@moa_kernels) function(@moa_dispatch_scatter) workgroup(%{{.*}} : memref<256xindex, #gpu.address_space<workgroup>>) {
// CHECK: gpu.barrier
func.func @dispatch(%i: tensor<?x?x2xi32>) -> (tensor<?xi32>, tensor<9xi32>) {
  %p, %o = moa.dispatch %i experts(8) : tensor<?x?x2xi32>
  return %p, %o : tensor<?xi32>, tensor<9xi32>
}

// -----

// bf16 grouped matmul with the gate-weighted combine: A ([row][k], 64x32)
// and the weight ([k][n], 32x64) staged in shared memory by cp.async (16
// bytes, element by element when K or N is not a multiple of 8; rows padded
// by 8) into two slots each (128x40, 64x72): stage 0's copies go out and are
// committed before the k loop (with a wait for all groups but one, which
// waits for nothing but keeps the commit from being erased); each iteration sends the next stage's copies
// into the other slot, commits them and waits for all groups but that one
// (the last iteration, for all), so that a stage's copies are in flight
// while the stage before is multiplied. Fragments are read by ldmatrix (the
// weight's transposed), mma.sync on the tensor cores, f32 atomics into a
// zeroed accumulator, then narrowed to bf16. With the second tiling,
// 32x64x16 tiles on 2 warps.
// CHECK-LABEL: func.func @grouped_combine_bf16
// CHECK: %[[ACC:.*]] = gpu.alloc (%{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?xf32>
// CHECK: gpu.memset  %[[ACC]]
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128, {{.*}} function(@moa_grouped_matmul_combine) workgroup(%[[A:.*]] : memref<128x40xbf16, #gpu.address_space<workgroup>>, %[[B:.*]] : memref<64x72xbf16, #gpu.address_space<workgroup>>) {
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[A]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[B]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK-NEXT: scf.for
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[A]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[B]][%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK-NEXT: } else {
// CHECK-NEXT: nvgpu.device_async_create_group
// CHECK-NEXT: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK-NEXT: }
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[A]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[B]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK-SAME: multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK-SAME: shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: memref.atomic_rmw addf
// CHECK: gpu.launch {{.*}} function(@moa_narrow) {
// TILES-LABEL: func.func @grouped_combine_bf16
// TILES: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c64, {{.*}} function(@moa_grouped_matmul_combine) workgroup(%{{.*}} : memref<64x24xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x72xbf16, #gpu.address_space<workgroup>>) {
func.func @grouped_combine_bf16(%x: tensor<?x?x2x16xbf16>, %w: tensor<4x16x32xbf16>, %p: tensor<?xi32>,
    %o: tensor<5xi32>, %g: tensor<?x?x2xf32>) -> tensor<?x?x32xbf16> {
  %y = moa.grouped_matmul %x, %w, %p, %o gates(%g : tensor<?x?x2xf32>)
      : (tensor<?x?x2x16xbf16>, tensor<4x16x32xbf16>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x32xbf16>
  return %y : tensor<?x?x32xbf16>
}

// -----

// f32 operands: the same fragment layout on FMAs, no tensor cores, over A's
// tile with rows padded by a word and the weight's as [k][n]; the scatter
// writes each pair's row in place.
// CHECK-LABEL: func.func @grouped_scatter_f32
// CHECK: gpu.launch {{.*}} function(@moa_grouped_matmul) workgroup(%{{.*}} : memref<64x33xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x64xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK-NOT: nvgpu.
// CHECK: math.fma
// CHECK-NOT: memref.atomic_rmw addf
// CHECK: return
func.func @grouped_scatter_f32(%x: tensor<?x?x16xf32>, %w: tensor<4x16x8xf32>, %p: tensor<?xi32>,
    %o: tensor<5xi32>) -> tensor<?x?x2x8xf32> {
  %y = moa.grouped_matmul %x, %w, %p, %o : (tensor<?x?x16xf32>, tensor<4x16x8xf32>, tensor<?xi32>, tensor<5xi32>) -> tensor<?x?x2x8xf32>
  return %y : tensor<?x?x2x8xf32>
}

// -----

// Flash multi-query attention on the tensor cores (f16, h = 64): tiles of 64
// keys, K and V as [key][dim] in shared memory (rows padded by 8) filled by
// cp.async; ldmatrix reads K's fragments as stored and V's transposed;
// S = Q K^T and O += P V by nvgpu.mma.sync (f16; bf16 stays on nvvm.mma.sync,
// which LLVM 22's NVGPU-to-NVVM cannot type); row statistics over the lanes
// of a quad. The second tiling stages 32 keys at a time.
// CHECK-LABEL: func.func @attention_f16
// CHECK: gpu.launch {{.*}} function(@moa_attention) workgroup(%[[K:.*]] : memref<64x72xf16, #gpu.address_space<workgroup>>, %[[V:.*]] : memref<64x72xf16, #gpu.address_space<workgroup>>) {
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[K]]
// CHECK: nvgpu.device_async_copy %{{.*}}, %[[V]]
// CHECK: nvgpu.device_async_wait
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[K]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.mma.sync
// CHECK-SAME: {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: math.exp
// CHECK: nvgpu.ldmatrix %[[V]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvgpu.mma.sync
// CHECK-NOT: gpu.shuffle  idx
// CHECK: return
// TILES-LABEL: func.func @attention_f16
// TILES: function(@moa_attention) workgroup(%{{.*}} : memref<32x72xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x72xf16, #gpu.address_space<workgroup>>) {
func.func @attention_f16(%q: tensor<?x?x2x64xf16>, %k: tensor<?x?x64xf16>, %v: tensor<?x?x64xf16>, %m: tensor<?x?xi1>)
    -> tensor<?x?x2x64xf16> {
  %o = moa.multi_query_attention %q, %k, %v key_padding_mask(%m : tensor<?x?xi1>) {causal}
      : tensor<?x?x2x64xf16>, tensor<?x?x64xf16>, tensor<?x?x64xf16>
  return %o : tensor<?x?x2x64xf16>
}

// -----

// f32 on the CUDA cores: K and V tiles of 32 keys in shared memory, one key
// per lane, online softmax with warp reductions, probabilities broadcast by
// shuffles.
// CHECK-LABEL: func.func @attention_f32
// CHECK: gpu.launch {{.*}} function(@moa_attention) workgroup(%{{.*}} : memref<32x64xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x64xf32, #gpu.address_space<workgroup>>) {
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK: math.exp
// CHECK: gpu.shuffle  idx
func.func @attention_f32(%q: tensor<?x?x2x64xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>)
    -> tensor<?x?x2x64xf32> {
  %o = moa.multi_query_attention %q, %k, %v : tensor<?x?x2x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>
  return %o : tensor<?x?x2x64xf32>
}

// -----

// moa.key_value_projection: one tiled GEMM launch over both weights (grid y
// covers the column tiles of K's weight, then V's).
// CHECK-LABEL: func.func @key_value
// CHECK: %[[KEY:.*]] = gpu.alloc
// CHECK: %[[VALUE:.*]] = gpu.alloc
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %c2, {{.*}} function(@moa_projection)
// CHECK-NOT: gpu.launch
// CHECK: return %{{.*}}, %{{.*}}
func.func @key_value(%x: tensor<?x?x64xbf16>, %wk: tensor<64x32xbf16>, %wv: tensor<64x32xbf16>)
    -> (tensor<?x?x32xbf16>, tensor<?x?x32xbf16>) {
  %k, %v = moa.key_value_projection %x, %wk, %wv : tensor<?x?x64xbf16>, tensor<64x32xbf16>
  return %k, %v : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>
}

// -----

// A row projection moa-fuse leaves alone, on tensors and in buffer form: the
// tiled GEMM kernel; in buffer form the kernel's device buffer takes the
// place of the zero-filled output allocation (no host buffer is left).
#in = affine_map<(b, t, n, c) -> (b, t, c)>
#w = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
// CHECK-LABEL: func.func @row_projection
// CHECK: gpu.launch {{.*}} function(@moa_projection)
// CHECK-NOT: linalg.contract
// CHECK: return
func.func @row_projection(%x: tensor<?x?x64xbf16>, %w: tensor<64x32xbf16>) -> tensor<?x?x32xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %x, %c0 : tensor<?x?x64xbf16>
  %t = tensor.dim %x, %c1 : tensor<?x?x64xbf16>
  %e = tensor.empty(%b, %t) : tensor<?x?x32xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  %y = linalg.contract indexing_maps = [#in, #w, #out]
      ins(%x, %w : tensor<?x?x64xbf16>, tensor<64x32xbf16>) outs(%z : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
// CHECK-LABEL: func.func @row_projection_buffers
// CHECK-NOT: memref.alloc
// CHECK: %[[Y:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x?x8xf32>
// The zero fill is dropped: the kernel is the buffer's first writer.
// CHECK-NOT: gpu.memset
// CHECK-NOT: linalg.
// CHECK: gpu.launch {{.*}} function(@moa_projection)
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
func.func @row_projection_buffers(%x: memref<?x?x16xf32>, %w: memref<16x8xf32>) -> memref<?x?x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = memref.dim %x, %c0 : memref<?x?x16xf32>
  %t = memref.dim %x, %c1 : memref<?x?x16xf32>
  %y = memref.alloc(%b, %t) : memref<?x?x8xf32>
  linalg.fill ins(%zero : f32) outs(%y : memref<?x?x8xf32>)
  linalg.contract indexing_maps = [#in, #w, #out]
      ins(%x, %w : memref<?x?x16xf32>, memref<16x8xf32>) outs(%y : memref<?x?x8xf32>)
  return %y : memref<?x?x8xf32>
}

// -----

// A cf.assert becomes a one-thread kernel that records the function's next
// assertion code (1000 and up) in the entry's error word when the condition
// is false; the launch carries the code and the message. A condition
// loaded from a buffer (a reduction's result, on the device) is loaded by
// the kernel.
// CHECK-LABEL: func.func @assertion(
// CHECK-SAME: %[[OK:.*]]: i1, %[[FLAG:.*]]: memref<i1>
// CHECK: %[[ERR:.*]] = gpu.alloc {{.*}}{moa.error_word} : memref<1xi32>
// CHECK: gpu.launch {{.*}} function(@moa_assert)
// CHECK: %[[NOT:.*]] = arith.xori %[[OK]]
// CHECK: scf.if %[[NOT]] {
// CHECK: memref.atomic_rmw maxs %[[CODE1:c100[01]_i32]], %[[ERR]]
// CHECK: } {moa.assertion = [{{100[01]}}, "sizes differ"]}
// CHECK: gpu.launch {{.*}} function(@moa_assert)
// CHECK: %[[V:.*]] = memref.load %[[FLAG]][]
// CHECK-NOT: %[[CODE1]]
// CHECK: memref.atomic_rmw maxs %c100{{[01]}}_i32, %[[ERR]]
// CHECK: } {moa.assertion = [{{100[01]}}, "lengths fit"]}
// CHECK-NOT: cf.assert
func.func @assertion(%ok: i1, %flag: memref<i1>) {
  cf.assert %ok, "sizes differ"
  %v = memref.load %flag[] : memref<i1>
  cf.assert %v, "lengths fit"
  return
}

// -----

// Decoding (buffer form): moa.cache_write is one block per new token
// writing the cache in place; moa.cached_attention is split-KV: a block
// per (token, 128 cached keys) with the token's k slots as rows, then a
// warp per row combining the blocks' partials (maximum, sum, values).
// CHECK-LABEL: func.func @decode(
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, %{{.*}} = %c1, %{{.*}} = %c1) threads({{.*}}) in (%{{.*}} = %c128, {{.*}} function(@moa_cache_write)
// 256 cached rows: 2 blocks of 128 keys per token, partials [B, rows, 2].
// CHECK: gpu.alloc (%{{.*}}, %c2, %c2) : memref<?x?x?xf32>
// CHECK: gpu.alloc (%{{.*}}, %c2, %c2) : memref<?x?x?xf32>
// CHECK: gpu.alloc (%{{.*}}, %c2, %c2, %c16) : memref<?x?x?x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, %{{.*}} = %c2, %{{.*}} = %c1) threads({{.*}}) in (%{{.*}} = %c128, {{.*}} function(@moa_decode_split) workgroup(%{{.*}} : memref<32x16xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x16xf32, #gpu.address_space<workgroup>>)
// CHECK: gpu.launch blocks({{.*}}) threads({{.*}}) in (%{{.*}} = %c32, {{.*}} function(@moa_decode_combine)
func.func @decode(%q: memref<?x1x2x16xf32>, %u: memref<?x1x16xf32>, %c: memref<?x256x16xf32>,
    %o: memref<?xi32>) -> memref<?x1x2x16xf32> {
  moa.cache_write %u, %o into %c : memref<?x1x16xf32>, memref<?xi32> into memref<?x256x16xf32>
  %r = moa.cached_attention %q, %c, %c, %o : memref<?x1x2x16xf32>, memref<?x256x16xf32>, memref<?xi32>
  return %r : memref<?x1x2x16xf32>
}

// -----

// Ops that move or map elements, in buffer form: bufferization's
// allocations become device buffers; a thread per output element reads
// each input through its indexing map and runs the payload into them.
// CHECK-LABEL: func.func @fold_heads(
// CHECK-NOT: memref.alloc
// CHECK: %[[T:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x4x?x8xf32>
// CHECK: gpu.launch {{.*}} function(@moa_elementwise)
// CHECK: %[[I:.*]] = memref.load %arg0[%[[B:.*]], %[[S:.*]], %[[H:.*]], %[[C:.*]]] : memref<?x?x4x8xf32>
// CHECK: memref.store %[[I]], %[[T]][%[[B]], %[[H]], %[[S]], %[[C]]]
// CHECK: %[[M:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x4x?xi1>
// CHECK: gpu.launch {{.*}} function(@moa_elementwise)
// CHECK: %[[V:.*]] = memref.load %arg1[%[[MB:.*]], %[[MS:.*]]] : memref<?x?xi1>
// CHECK: memref.store %[[V]], %[[M]][%[[MB]], %{{.*}}, %[[MS]]]
// CHECK: return %[[T]], %[[M]]
func.func @fold_heads(%x: memref<?x?x4x8xf32>, %mask: memref<?x?xi1>)
    -> (memref<?x4x?x8xf32>, memref<?x4x?xi1>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = memref.dim %x, %c0 : memref<?x?x4x8xf32>
  %t = memref.dim %x, %c1 : memref<?x?x4x8xf32>
  %heads = memref.alloc(%b, %t) : memref<?x4x?x8xf32>
  linalg.transpose ins(%x : memref<?x?x4x8xf32>) outs(%heads : memref<?x4x?x8xf32>) permutation = [0, 2, 1, 3]
  %s = memref.dim %mask, %c1 : memref<?x?xi1>
  %perHead = memref.alloc(%b, %s) : memref<?x4x?xi1>
  linalg.broadcast ins(%mask : memref<?x?xi1>) outs(%perHead : memref<?x4x?xi1>) dimensions = [1]
  return %heads, %perHead : memref<?x4x?x8xf32>, memref<?x4x?xi1>
}

// -----

// Projections that share one zero init after CSE: bufferization gives the
// first a copy of the zero-filled buffer; that copy is dropped (the kernel
// is its first writer); the second accumulates into the filled buffer.
// CHECK-LABEL: func.func @shared_zero_init(
// CHECK: %[[INIT:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x?x16xf32>
// CHECK-NEXT: gpu.memset %[[INIT]], %{{.*}} : memref<?x?x16xf32>, f32
// CHECK: %[[FIRST:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x?x16xf32>
// CHECK-NOT: gpu.memcpy
// CHECK: function(@moa_projection)
// CHECK-NOT: memref.load %[[FIRST]]
// CHECK: memref.store {{.*}} : memref<?x16xf32>
// CHECK: %[[C:.*]] = memref.cast %[[INIT]] : memref<?x?x16xf32> to memref<?x?x?xf32>
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %[[C]]
// CHECK: function(@moa_projection)
// CHECK: memref.load %[[ROWS]][
// CHECK: return %[[FIRST]], %[[INIT]]
func.func @shared_zero_init(%x: memref<?x?x32xf32>, %w1: memref<32x16xf32>, %w2: memref<32x16xf32>)
    -> (memref<?x?x16xf32>, memref<?x?x16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = memref.dim %x, %c0 : memref<?x?x32xf32>
  %t = memref.dim %x, %c1 : memref<?x?x32xf32>
  %init = memref.alloc(%b, %t) : memref<?x?x16xf32>
  linalg.fill ins(%zero : f32) outs(%init : memref<?x?x16xf32>)
  %first = memref.alloc(%b, %t) : memref<?x?x16xf32>
  memref.copy %init, %first : memref<?x?x16xf32> to memref<?x?x16xf32>
  linalg.contract indexing_maps = [affine_map<(b, t, n, c) -> (b, t, c)>, affine_map<(b, t, n, c) -> (c, n)>, affine_map<(b, t, n, c) -> (b, t, n)>]
      ins(%x, %w1 : memref<?x?x32xf32>, memref<32x16xf32>) outs(%first : memref<?x?x16xf32>)
  linalg.contract indexing_maps = [affine_map<(b, t, n, c) -> (b, t, c)>, affine_map<(b, t, n, c) -> (c, n)>, affine_map<(b, t, n, c) -> (b, t, n)>]
      ins(%x, %w2 : memref<?x?x32xf32>, memref<32x16xf32>) outs(%init : memref<?x?x16xf32>)
  return %first, %init : memref<?x?x16xf32>, memref<?x?x16xf32>
}

// -----

// Buffers bufferization reuses in place become device buffers the kernels
// write where they are: a residual add into one of its inputs; a copy is
// gpu.memcpy; a constant scalar a generic reads is inlined into the
// kernel; another global is read from a device copy; linalg.index is the
// element's position.
// CHECK-LABEL: func.func @in_place(
// CHECK-SAME: %[[X:.*]]: memref<?x8xf32>, %[[Y:.*]]: memref<?x8xf32>
// CHECK: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[A:.*]] = gpu.alloc (%{{.*}}) : memref<?x8xf32>
// CHECK-NEXT: gpu.memcpy %[[A]], %[[X]] : memref<?x8xf32>, memref<?x8xf32>
// CHECK: function(@moa_elementwise)
// CHECK: %[[L:.*]] = memref.load %[[A]][%[[R:.*]], %[[C:.*]]]
// CHECK: %[[R2:.*]] = memref.load %[[Y]][%[[R]], %[[C]]]
// CHECK: %[[S:.*]] = arith.addf %[[L]], %[[R2]]
// CHECK: memref.store %[[S]], %[[A]][%[[R]], %[[C]]]
// CHECK: function(@moa_elementwise)
// CHECK: %[[V:.*]] = memref.load %[[A]][%[[R:.*]], %[[C:.*]]]
// CHECK: %[[P:.*]] = arith.index_cast %[[C]] : index to i32
// CHECK: %[[F:.*]] = arith.sitofp %[[P]]
// CHECK: %[[M:.*]] = arith.mulf %[[V]], %[[HALF]]
// CHECK: arith.addf %[[M]], %[[F]]
// CHECK: %[[G:.*]] = memref.get_global @table
// CHECK-NEXT: %[[T:.*]] = gpu.alloc () : memref<8xf32>
// CHECK-NEXT: gpu.memcpy %[[T]], %[[G]]
// CHECK: function(@moa_elementwise)
// CHECK: memref.load %[[T]][%{{.*}}]
// CHECK-NOT: memref.get_global @scale
// CHECK: return %[[A]]
memref.global "private" constant @scale : memref<f32> = dense<5.000000e-01>
memref.global "private" constant @table : memref<8xf32> = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]>
func.func @in_place(%x: memref<?x8xf32>, %y: memref<?x8xf32>) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  memref.copy %x, %a : memref<?x8xf32> to memref<?x8xf32>
  linalg.add ins(%a, %y : memref<?x8xf32>, memref<?x8xf32>) outs(%a : memref<?x8xf32>)
  %s = memref.get_global @scale : memref<f32>
  linalg.generic {indexing_maps = [affine_map<(r, c) -> (r, c)>, affine_map<(r, c) -> ()>, affine_map<(r, c) -> (r, c)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a, %s : memref<?x8xf32>, memref<f32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%v: f32, %h: f32, %o: f32):
    %i = linalg.index 1 : index
    %p = arith.index_cast %i : index to i32
    %f = arith.sitofp %p : i32 to f32
    %m = arith.mulf %v, %h : f32
    %r = arith.addf %m, %f : f32
    linalg.yield %r : f32
  }
  %t = memref.get_global @table : memref<8xf32>
  linalg.generic {indexing_maps = [affine_map<(r, c) -> (c)>, affine_map<(r, c) -> (r, c)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%t : memref<8xf32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%w: f32, %o: f32):
    %r = arith.addf %o, %w : f32
    linalg.yield %r : f32
  }
  return %a : memref<?x8xf32>
}

// -----

// A constant splat global read as an array is filled on the device: no
// bytes cross the bus on a call.
// CHECK-LABEL: func.func @splat_global(
// CHECK-NOT: memref.get_global
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[ONES:.*]] = gpu.alloc () : memref<8xf32>
// CHECK-NEXT: gpu.memset %[[ONES]], %[[ONE]] : memref<8xf32>, f32
// CHECK-NOT: gpu.memcpy
// CHECK: function(@moa_elementwise)
// CHECK: memref.load %[[ONES]][%{{.*}}]
memref.global "private" constant @ones : memref<8xf32> = dense<1.000000e+00>
func.func @splat_global(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  %t = memref.get_global @ones : memref<8xf32>
  linalg.generic {indexing_maps = [affine_map<(r, c) -> (c)>, affine_map<(r, c) -> (r, c)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%t : memref<8xf32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%w: f32, %o: f32):
    linalg.yield %w : f32
  }
  return %a : memref<?x8xf32>
}

// -----

// A reduction (moa-generate-decode's check that every length fits): a
// thread per output element runs the reduction loop over its element.
// CHECK-LABEL: func.func @all_in_range(
// CHECK: %[[OUT:.*]] = gpu.alloc () : memref<i1>
// CHECK: function(@moa_elementwise)
// CHECK: function(@moa_reduction)
// CHECK: %[[INIT:.*]] = memref.load %[[OUT]][] : memref<i1>
// CHECK: %[[ALL:.*]] = scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (i1)
// CHECK: memref.load %arg0[
// CHECK: arith.andi %[[ACC]]
// CHECK: memref.store %[[ALL]], %[[OUT]][]
func.func @all_in_range(%l: memref<?xi32>) -> memref<i1> {
  %true = arith.constant true
  %c64 = arith.constant 64 : i32
  %r = memref.alloc() : memref<i1>
  linalg.fill ins(%true : i1) outs(%r : memref<i1>)
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>], iterator_types = ["reduction"]}
      ins(%l : memref<?xi32>) outs(%r : memref<i1>) {
  ^bb0(%v: i32, %acc: i1):
    %ok = arith.cmpi slt, %v, %c64 : i32
    %a = arith.andi %acc, %ok : i1
    linalg.yield %a : i1
  }
  return %r : memref<i1>
}

// -----

// Cross-entropy: the targets' range, a warp per row for the softmax
// statistics, one block summing the rows in f64 through shared memory.
// CHECK-LABEL: func.func @cross_entropy(
// CHECK: function(@moa_check_indices)
// CHECK: function(@moa_softmax_statistics)
// CHECK: gpu.alloc () : memref<f32>
// CHECK: function(@moa_cross_entropy) workgroup(%{{.*}} : memref<2x256xf64, #gpu.address_space<workgroup>>)
// CHECK-NOT: moa.cross_entropy
func.func @cross_entropy(%l: memref<?x?x50xf32>, %t: memref<?x?xi32>) -> memref<f32> {
  %loss = moa.cross_entropy %l, %t : memref<?x?x50xf32>, memref<?x?xi32>
  return %loss : memref<f32>
}

// -----

// The tensor-core attention with `with_lse`: the first lane of each quad
// writes its two rows' log-sum-exp, max + log(sum) or -inf for a row that
// saw no key, into the second result.
// CHECK-LABEL: func.func @attention_lse(
// CHECK: %[[LSE:.*]] = gpu.alloc  (%{{.*}}, %{{.*}}, %c2) : memref<?x?x?xf32>
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %[[LSE]] {{\[}}[0], [1, 2]]
// CHECK: function(@moa_attention)
// CHECK-COUNT-2: math.log
// CHECK: memref.store %{{.*}}, %[[ROWS]]
// CHECK: %[[C:.*]] = memref.cast %[[LSE]] : memref<?x?x?xf32> to memref<?x?x2xf32>
// CHECK: return %{{.*}}, %[[C]]
func.func @attention_lse(%q: memref<?x?x2x64xbf16>, %k: memref<?x?x64xbf16>, %v: memref<?x?x64xbf16>)
    -> (memref<?x?x2x64xbf16>, memref<?x?x2xf32>) {
  %o, %lse = moa.multi_query_attention %q, %k, %v {with_lse} : memref<?x?x2x64xbf16>, memref<?x?x64xbf16>, memref<?x?x64xbf16>
  return %o, %lse : memref<?x?x2x64xbf16>, memref<?x?x2xf32>
}

// -----

// Given the forward's log-sum-exp, the backward's row kernel only computes
// D = rowsum(dO O): no logarithm anywhere.
// CHECK-LABEL: func.func @attention_grad_lse(
// CHECK-NOT: math.log
// CHECK: function(@moa_attention_grad_rows)
// CHECK-NOT: math.log
// CHECK: return
func.func @attention_grad_lse(%q: memref<?x?x2x8xf32>, %k: memref<?x?x8xf32>,
    %v: memref<?x?x8xf32>, %o: memref<?x?x2x8xf32>, %do: memref<?x?x2x8xf32>, %lse: memref<?x?x2xf32>)
    -> (memref<?x?x2x8xf32>, memref<?x?x8xf32>, memref<?x?x8xf32>) {
  %dq, %dk, %dv = moa.multi_query_attention_grad %q, %k, %v, %o, %do lse(%lse : memref<?x?x2xf32>)
      : memref<?x?x2x8xf32>, memref<?x?x8xf32>, memref<?x?x8xf32>
  return %dq, %dk, %dv : memref<?x?x2x8xf32>, memref<?x?x8xf32>, memref<?x?x8xf32>
}
