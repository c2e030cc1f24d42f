// RUN: moa-opt %s -split-input-file -moa-cost -o /dev/null 2>&1 | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-decompose -moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=DECOMPOSED

// The paper's MoA Base sub-layer (8K8E128D: k=8, E=8, h=128, d=512) at
// T = S = 10 tokens, the paper's MAC convention. By hand (moa-spec.md):
//   per query token: d*E + 2*k*d*h = 4096 + 1048576 = 1052672
//   per key token:   2*d*h          = 131072
//   per pair:        2*k*h          = 2048
//   total: 10*1052672 + 10*131072 + 100*2048 = 12042240
//   params: d*E + 2*d*h + 2*E*d*h = 4096 + 131072 + 1048576 = 1183744
// CHECK-LABEL: moa-cost @moa_base
// CHECK-NEXT: moa.mixture_attention: macs 12042240 = 1052672/query token x 10 + 131072/key token x 10 + 2048/query-key pair x 100, params 1183744
// CHECK-NEXT: total: macs 12042240, params 1183744
// Decomposed, the same total: router 10*512*8 = 40960; Q and O 10*8*512*128
// = 5242880 each; K and V 10*512*128 = 655360 each; attention 100*2048.
// DECOMPOSED-LABEL: moa-cost @moa_base
// DECOMPOSED-NEXT: linalg.contract: macs 40960, params 4096
// DECOMPOSED-NEXT: moa.route: macs 0, params 0
// DECOMPOSED-NEXT: moa.dispatch: macs 0, params 0
// DECOMPOSED-NEXT: moa.grouped_matmul: macs 5242880 = 524288/query token x 10, params 524288
// DECOMPOSED-NEXT: linalg.contract: macs 655360, params 65536
// DECOMPOSED-NEXT: linalg.contract: macs 655360, params 65536
// DECOMPOSED-NEXT: moa.multi_query_attention: macs 204800 = 2048/query-key pair x 100, params 0
// DECOMPOSED-NEXT: moa.grouped_matmul: macs 5242880 = 524288/query token x 10, params 524288
// DECOMPOSED-NEXT: total: macs 12042240, params 1183744
func.func @moa_base(%x: tensor<1x10x512xf32>, %wg: tensor<512x8xf32>, %wq: tensor<8x512x128xf32>,
    %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>, %wo: tensor<8x128x512xf32>) -> tensor<1x10x512xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(8)
      : tensor<1x10x512xf32>, tensor<512x8xf32>, tensor<8x512x128xf32>, tensor<512x128xf32>, tensor<512x128xf32>, tensor<8x128x512xf32>
  return %y : tensor<1x10x512xf32>
}

// -----

// MoA Big (16K32E256D: k=16, E=32, h=256, d=512), T = S = 10:
//   per query token: 512*32 + 2*16*512*256 = 16384 + 4194304 = 4210688
//   per key token:   2*512*256 = 262144;  per pair: 2*16*256 = 8192
//   total: 42106880 + 2621440 + 819200 = 45547520
//   params: 16384 + 262144 + 8388608 = 8667136
// CHECK-LABEL: moa-cost @moa_big
// CHECK-NEXT: moa.mixture_attention: macs 45547520 = 4210688/query token x 10 + 262144/key token x 10 + 8192/query-key pair x 100, params 8667136
// CHECK-NEXT: total: macs 45547520, params 8667136
// DECOMPOSED-LABEL: moa-cost @moa_big
// DECOMPOSED: total: macs 45547520, params 8667136
func.func @moa_big(%x: tensor<1x10x512xbf16>, %wg: tensor<512x32xf32>, %wq: tensor<32x512x256xbf16>,
    %wk: tensor<512x256xbf16>, %wv: tensor<512x256xbf16>, %wo: tensor<32x256x512xbf16>) -> tensor<1x10x512xbf16> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(16)
      : tensor<1x10x512xbf16>, tensor<512x32xf32>, tensor<32x512x256xbf16>, tensor<512x256xbf16>, tensor<512x256xbf16>, tensor<32x256x512xbf16>
  return %y : tensor<1x10x512xbf16>
}

// -----

// Cross-attention, T = 5 queries and S = 7 keys, B = 2, d=16, E=4, k=2, h=8:
//   per query token 16*4 + 2*2*16*8 = 576, x 10 = 5760
//   per key token 2*16*8 = 256, x 14 = 3584; per pair 2*2*8 = 32, x 70 = 2240
//   total 11584; params 64 + 256 + 1024 = 1344
// CHECK-LABEL: moa-cost @cross_attention
// CHECK-NEXT: moa.mixture_attention: macs 11584 = 576/query token x 10 + 256/key token x 14 + 32/query-key pair x 70, params 1344
// DECOMPOSED-LABEL: moa-cost @cross_attention
// DECOMPOSED: total: macs 11584, params 1344
func.func @cross_attention(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>, %m: tensor<2x7x16xf32>)
    -> tensor<2x5x16xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) memory(%m : tensor<2x7x16xf32>)
      : tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<2x5x16xf32>
}

// -----

// Dynamic batch and sequence: the per-unit terms are known, the totals not.
// d=256, E=8, k=2, h=64: 256*8 + 2*2*256*64 = 67584 per query token,
// 2*256*64 = 32768 per key token, 2*2*64 = 256 per pair;
// params 2048 + 32768 + 262144 = 296960.
// CHECK-LABEL: moa-cost @dynamic
// CHECK-NEXT: moa.mixture_attention: macs ? = 67584/query token x ? + 32768/key token x ? + 256/query-key pair x ?, params 296960
// CHECK-NEXT: total: macs ? (0 + terms of dynamic size), params 296960
// DECOMPOSED-LABEL: moa-cost @dynamic
// DECOMPOSED-NEXT: linalg.contract: macs ? = 2048/product of dynamic loop ranges x ?, params 2048
// DECOMPOSED: total: macs ? (0 + terms of dynamic size), params 296960
func.func @dynamic(%x: tensor<?x?x256xf32>, %wg: tensor<256x8xf32>, %wq: tensor<8x256x64xf32>,
    %wk: tensor<256x64xf32>, %wv: tensor<256x64xf32>, %wo: tensor<8x64x256xf32>) -> tensor<?x?x256xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>
  return %y : tensor<?x?x256xf32>
}

// -----

// A model block: two MoA layers sharing their weights (counted once) and an
// FFN of linalg.matmul ops. FFN: 10*512*2048 MACs each way = 10485760, with
// 512*2048 = 1048576 parameters per matmul. The batch_matmul has no
// parameters (both inputs vary along the batch loop).
// Total: 2*12042240 + 2*10485760 + 10*4*4*4 = 45056000 + 640 = 45056640;
// params: 1183744 + 2*1048576 = 3280896.
// CHECK-LABEL: moa-cost @block
// CHECK-NEXT: moa.mixture_attention: macs 12042240
// CHECK-NEXT: moa.mixture_attention: macs 12042240
// CHECK-NEXT: linalg.matmul: macs 10485760, params 1048576
// CHECK-NEXT: linalg.matmul: macs 10485760, params 1048576
// CHECK-NEXT: linalg.batch_matmul: macs 640, params 0
// CHECK-NEXT: total: macs 45056640, params 3280896
func.func @block(%x: tensor<1x10x512xf32>, %wg: tensor<512x8xf32>, %wq: tensor<8x512x128xf32>,
    %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>, %wo: tensor<8x128x512xf32>,
    %rows: tensor<10x512xf32>, %w1: tensor<512x2048xf32>, %w2: tensor<2048x512xf32>,
    %a: tensor<10x4x4xf32>, %b: tensor<10x4x4xf32>) -> (tensor<1x10x512xf32>, tensor<10x512xf32>, tensor<10x4x4xf32>) {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(8)
      : tensor<1x10x512xf32>, tensor<512x8xf32>, tensor<8x512x128xf32>, tensor<512x128xf32>, tensor<512x128xf32>, tensor<8x128x512xf32>
  %y2, %l2 = moa.mixture_attention %y, %wg, %wq, %wk, %wv, %wo k(8)
      : tensor<1x10x512xf32>, tensor<512x8xf32>, tensor<8x512x128xf32>, tensor<512x128xf32>, tensor<512x128xf32>, tensor<8x128x512xf32>
  %e1 = tensor.empty() : tensor<10x2048xf32>
  %h = linalg.matmul ins(%rows, %w1 : tensor<10x512xf32>, tensor<512x2048xf32>) outs(%e1 : tensor<10x2048xf32>) -> tensor<10x2048xf32>
  %e2 = tensor.empty() : tensor<10x512xf32>
  %o = linalg.matmul ins(%h, %w2 : tensor<10x2048xf32>, tensor<2048x512xf32>) outs(%e2 : tensor<10x512xf32>) -> tensor<10x512xf32>
  %e3 = tensor.empty() : tensor<10x4x4xf32>
  %s = linalg.batch_matmul ins(%a, %b : tensor<10x4x4xf32>, tensor<10x4x4xf32>) outs(%e3 : tensor<10x4x4xf32>) -> tensor<10x4x4xf32>
  return %y2, %o, %s : tensor<1x10x512xf32>, tensor<10x512xf32>, tensor<10x4x4xf32>
}

// -----

// Shapes whose MACs do not fit in 64 bits: the count says so, it does not
// wrap around to a negative number (before and after moa-decompose).
// CHECK-LABEL: moa-cost @huge
// CHECK: moa.mixture_attention: macs overflow(>=2^63)
// CHECK: total: macs overflow(>=2^63), params 42949935104
// DECOMPOSED-LABEL: moa-cost @huge
// DECOMPOSED-NOT: macs -
// DECOMPOSED: total: macs overflow(>=2^63), params 42949935104
func.func @huge(%x: tensor<1x1073741824x65536xf32>, %wg: tensor<65536x4xf32>, %wq: tensor<4x65536x65536xf32>,
    %wk: tensor<65536x65536xf32>, %wv: tensor<65536x65536xf32>, %wo: tensor<4x65536x65536xf32>) -> tensor<1x1073741824x65536xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(1)
      : tensor<1x1073741824x65536xf32>, tensor<65536x4xf32>, tensor<4x65536x65536xf32>, tensor<65536x65536xf32>, tensor<65536x65536xf32>, tensor<4x65536x65536xf32>
  return %y : tensor<1x1073741824x65536xf32>
}

// -----

// A decoding step: the cache write moves data (no MACs); the attention
// counts every cache row, an upper bound (rows past a token's position are
// not read): 4 sequences x 1 token x 2048 rows, 2 k h = 256 MACs each.
// CHECK-LABEL: moa-cost @decode_step
// CHECK-NEXT: moa.cache_write: macs 0, params 0
// CHECK-NEXT: moa.cached_attention: macs 2097152 = 256/query-key pair x 8192, params 0
// CHECK-NEXT: total: macs 2097152, params 0
func.func @decode_step(%k: tensor<4x1x64xf32>, %kc: tensor<4x2048x64xf32>,
    %vc: tensor<4x2048x64xf32>, %offsets: tensor<4xi32>,
    %q: tensor<4x1x2x64xf32>) -> tensor<4x1x2x64xf32> {
  %kc1 = moa.cache_write %k, %offsets into %kc
      : tensor<4x1x64xf32>, tensor<4xi32> into tensor<4x2048x64xf32> -> tensor<4x2048x64xf32>
  %o = moa.cached_attention %q, %kc1, %vc, %offsets
      : tensor<4x1x2x64xf32>, tensor<4x2048x64xf32>, tensor<4xi32>
  return %o : tensor<4x1x2x64xf32>
}
