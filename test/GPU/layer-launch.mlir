// examples/moa_layer.mlir compiled for the GPU and run on the recording mock
// (B=2, T=100, d=256, E=8, k=2, h=64): one module, the arguments copied in,
// then the kernels of the layer in order on one stream, and nothing copied to
// the host and no wait until they are all launched (routing, dispatch and the
// per-tile expert map stay on the device).
// REQUIRES: cuda-toolkit
// RUN: rm -f %t.log
// RUN: moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda --mock-gpu -o %t.so
// RUN: env MOA_MOCK_CUDA_LOG=%t.log moa-run %t.so moa_layer --random --dims 2,100
// RUN: FileCheck %s < %t.log

// CHECK: module-load {{[0-9]+}} bytes
// CHECK-NOT: module-load
// x [2, 100, 256] and the five weights; the host entry waits for them once
// before it calls the device entry.
// CHECK: memcpy H2D 204800 bytes
// CHECK: memcpy H2D 8192 bytes
// CHECK: memcpy H2D 524288 bytes
// CHECK: memcpy H2D 65536 bytes
// CHECK: memcpy H2D 65536 bytes
// CHECK: memcpy H2D 524288 bytes
// CHECK-NEXT: stream-synchronize
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// 200 tokens, 16 per block of 4 warps (4 per warp).
// CHECK: launch moa_router grid=(13,1,1) block=(128,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// 400 (token, slot) pairs; one scatter block per expert and one for -1.
// CHECK: launch moa_dispatch_count grid=(2,1,1) block=(256,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// CHECK: launch moa_dispatch_scan grid=(1,1,1) block=(1,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// CHECK: launch moa_dispatch_scatter grid=(9,1,1) block=(256,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// At most ceil(400 / 64) + 8 tiles of one expert, h = 64 in one column tile.
// CHECK: launch moa_grouped_matmul grid=(15,1,1) block=(128,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// K and V in one launch: 200 rows in 4 row tiles, h = 64 one column tile
// of each weight.
// CHECK: launch moa_projection grid=(4,2,1) block=(128,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// 200 rows (token, slot) per batch, 32 per block, times 2 batches.
// CHECK: launch moa_attention grid=(14,1,1) block=(128,1,1)
// CHECK-NOT: D2H
// CHECK-NOT: stream-synchronize
// d = 256 in four column tiles, accumulating into a zeroed f32 output.
// CHECK: memset32 51200
// CHECK: launch moa_grouped_matmul_combine grid=(15,4,1) block=(128,1,1)
// CHECK-NOT: launch
// The device entry: after one wait the routing indices (moa-run asks for
// the head usage) and the device error word come back; its 11 buffers are
// freed (logits, indices, gates, permutation, offsets, counts, Q, K, V,
// attention, the error word) and y, the result, is handed over; one wait.
// CHECK: stream-synchronize
// CHECK: memcpy D2H 1600 bytes
// CHECK: memcpy D2H 4 bytes
// CHECK-COUNT-11: free
// CHECK-NEXT: stream-synchronize
// The host entry: y back, then the 6 arguments' buffers and y freed.
// CHECK: memcpy D2H 204800 bytes
// CHECK-COUNT-7: free
// CHECK-NOT: free
// CHECK: stream-synchronize

// The bf16 layer (d = 256, E = 8, k = 2, h = 64) on sm_90a, 2 x 150 tokens:
// the GEMMs (64 x 128 tiles, one warpgroup) and attention (a producer and
// two consumer warpgroups; 6 blocks of 128 query rows would be too few for
// the SMs, so blocks of 64 rows whose consumers split the keys: 5 row
// blocks of 300 (token, slot) rows per sequence) ask for dynamic shared
// memory: tiles (GEMMs: two
// stages of 8 + 16 KiB, 48 KiB; attention: 2 Q + 2 K + 2 V + 2 P tiles of
// 8 KiB, 64 KiB) and 1087 bytes to align them past the static mbarriers;
// attention's Q, K and V tensor maps are made before its launch.
// RUN: rm -f %t.bf16.log
// RUN: moa-compile %S/Inputs/layer-bf16.mlir --target=cuda --mock-gpu -o %t.bf16.so
// RUN: env MOA_MOCK_CUDA_LOG=%t.bf16.log moa-run %t.bf16.so layer_bf16 --random --dims 2,150
// RUN: FileCheck %s --check-prefix=HOPPER < %t.bf16.log
// HOPPER: launch moa_router {{.*}} smem=0
// HOPPER: launch moa_grouped_matmul grid=(18,1,1) block=(128,1,1) smem=50239
// HOPPER: launch moa_projection grid=(5,2,1) block=(128,1,1) smem=50239
// HOPPER-COUNT-3: tensor-map rank 3 type 9 swizzle 3
// HOPPER: launch moa_attention grid=(10,1,1) block=(384,1,1) smem=66623
// HOPPER: launch moa_grouped_matmul_combine grid=(18,2,1) block=(128,1,1) smem=50239
// HOPPER: launch moa_narrow {{.*}} smem=0
