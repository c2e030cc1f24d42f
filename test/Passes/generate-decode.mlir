// RUN: moa-opt %s -split-input-file -moa-generate-decode="max-length=256" | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-generate-decode | FileCheck %s --check-prefix=DEFAULT

// A small language model written as its loss: embedding, one causal MoA
// layer, the output projection, a loss that the decoder leaves out.
// CHECK-LABEL: func.func @loss(
// CHECK-LABEL: func.func @loss_prefill(
// CHECK-SAME: %[[EMB:[^:]*]]: tensor<50x16xf32> {moa.name = "p.emb"}, %[[WG:[^:]*]]: tensor<16x4xf32> {moa.name = "p.wg"},
// CHECK-SAME: %[[WQ:[^:]*]]: tensor<4x16x8xf32> {moa.name = "p.wq"}, %[[WK:[^:]*]]: tensor<16x8xf32> {moa.name = "p.wk"},
// CHECK-SAME: %[[WV:[^:]*]]: tensor<16x8xf32> {moa.name = "p.wv"}, %[[WO:[^:]*]]: tensor<4x8x16xf32> {moa.name = "p.wo"},
// CHECK-SAME: %[[WOUT:[^:]*]]: tensor<16x50xf32> {moa.name = "p.wout"},
// CHECK-SAME: %[[TOK:[^:]*]]: tensor<?x?xi32> {moa.name = "tokens"}, %[[LEN:[^:]*]]: tensor<?xi32> {moa.name = "lengths"})
// CHECK-SAME: -> (tensor<?x50xf32> {moa.name = "logits"}, tensor<?x256x8xf32> {moa.name = "cache.0.key"}, tensor<?x256x8xf32> {moa.name = "cache.0.value"})
// The prompt's keys and values go into fresh caches from row 0; the prompt
// attends to itself as in the forward pass.
// CHECK: %[[Q:.*]] = moa.grouped_matmul
// CHECK: %[[K:.*]] = linalg.contract {{.*}} ins(%{{.*}}, %[[WK]] :
// CHECK: %[[V:.*]] = linalg.contract {{.*}} ins(%{{.*}}, %[[WV]] :
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : i32)
// CHECK: %[[KC:.*]] = moa.cache_write %[[K]], %[[ZERO]] into %{{.*}} : tensor<?x?x8xf32>, tensor<?xi32> into tensor<?x256x8xf32> -> tensor<?x256x8xf32>
// CHECK: %[[VC:.*]] = moa.cache_write %[[V]], %[[ZERO]] into %{{.*}} : tensor<?x?x8xf32>, tensor<?xi32> into tensor<?x256x8xf32> -> tensor<?x256x8xf32>
// CHECK: moa.multi_query_attention %[[Q]], %[[K]], %[[V]] {causal}
// The logits of each prompt's last real token, lengths checked.
// CHECK: cf.assert %{{.*}}, "moa-generate-decode: each prompt length must lie in [1, T], T the padded prompt length"
// CHECK: %[[LAST:.*]] = linalg.generic {{.*}} ins(%[[LEN]] : tensor<?xi32>)
// CHECK: tensor.extract
// CHECK: return %[[LAST]], %[[KC]], %[[VC]]
// CHECK-NOT: moa.cross_entropy
// CHECK-LABEL: func.func @loss_decode(
// CHECK-SAME: %[[TOK:[^:]*]]: tensor<?x1xi32> {moa.name = "tokens"},
// CHECK-SAME: %[[KIN:[^:]*]]: tensor<?x256x8xf32> {moa.name = "cache.0.key"}, %[[VIN:[^:]*]]: tensor<?x256x8xf32> {moa.name = "cache.0.value"},
// CHECK-SAME: %[[LEN:[^:]*]]: tensor<?xi32> {moa.name = "lengths"})
// CHECK-SAME: -> (tensor<?x50xf32> {moa.name = "logits"}, tensor<?x256x8xf32> {moa.name = "cache.0.key", moa.tied = 8 : i64}, tensor<?x256x8xf32> {moa.name = "cache.0.value", moa.tied = 9 : i64})
// The new token's key and value are written at row `lengths`, and its
// queries attend over the caches.
// CHECK: %[[Q:.*]] = moa.grouped_matmul
// CHECK: %[[K:.*]] = linalg.contract
// CHECK: %[[V:.*]] = linalg.contract
// CHECK: %[[KC:.*]] = moa.cache_write %[[K]], %[[LEN]] into %[[KIN]]
// CHECK: %[[VC:.*]] = moa.cache_write %[[V]], %[[LEN]] into %[[VIN]]
// CHECK: %[[O:.*]] = moa.cached_attention %[[Q]], %[[KC]], %[[VC]], %[[LEN]] : tensor<?x?x2x8xf32>, tensor<?x256x8xf32>, tensor<?xi32>
// CHECK: moa.grouped_matmul %[[O]]
// CHECK: %[[LOGITS:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]] : tensor<?x?x50xf32> into tensor<?x50xf32>
// CHECK: return %[[LOGITS]], %[[KC]], %[[VC]]
// DEFAULT-LABEL: func.func @loss_prefill(
// DEFAULT-SAME: tensor<?x2048x8xf32> {moa.name = "cache.0.key"}

#in = affine_map<(b, t, n, c) -> (b, t, c)>
#w = affine_map<(b, t, n, c) -> (c, n)>
#out = affine_map<(b, t, n, c) -> (b, t, n)>
func.func @loss(%emb: tensor<50x16xf32> {moa.param = "emb"},
    %wg: tensor<16x4xf32> {moa.param = "wg"},
    %wq: tensor<4x16x8xf32> {moa.param = "wq"},
    %wk: tensor<16x8xf32> {moa.param = "wk"},
    %wv: tensor<16x8xf32> {moa.param = "wv"},
    %wo: tensor<4x8x16xf32> {moa.param = "wo"},
    %wout: tensor<16x50xf32> {moa.param = "wout"},
    %tokens: tensor<?x?xi32> {moa.name = "tokens"},
    %targets: tensor<?x?xi32> {moa.name = "targets"})
    -> (tensor<f32> {moa.name = "loss"}, tensor<?x?x50xf32> {moa.name = "logits"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %b = tensor.dim %tokens, %c0 : tensor<?x?xi32>
  %t = tensor.dim %tokens, %c1 : tensor<?x?xi32>
  %x = moa.embedding %tokens, %emb : tensor<?x?xi32>, tensor<50x16xf32> -> tensor<?x?x16xf32>
  %y, %r = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) {causal}
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>,
        tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  %e = tensor.empty(%b, %t) : tensor<?x?x50xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x50xf32>) -> tensor<?x?x50xf32>
  %logits = linalg.contract indexing_maps = [#in, #w, #out]
      ins(%y, %wout : tensor<?x?x16xf32>, tensor<16x50xf32>)
      outs(%z : tensor<?x?x50xf32>) -> tensor<?x?x50xf32>
  %ce = moa.cross_entropy %logits, %targets : tensor<?x?x50xf32>, tensor<?x?xi32>
  return %ce, %logits : tensor<f32>, tensor<?x?x50xf32>
}
