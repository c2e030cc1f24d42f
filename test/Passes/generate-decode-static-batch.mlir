// A static batch: the entries keep B = 2 in their types (the caches, the
// lengths, the logits) and the whole CPU pipeline lowers them.
// RUN: moa-opt %s -moa-generate-decode=max-length=16 | FileCheck %s
// RUN: moa-opt %s -moa-generate-decode=max-length=16 -moa-cpu-pipeline -o /dev/null
// CHECK-LABEL: func.func @loss_prefill(
// CHECK-SAME: tensor<2x?xi32> {moa.name = "tokens"}, %{{.*}}: tensor<2xi32> {moa.name = "lengths"})
// CHECK-SAME: -> (tensor<2x16xf32> {moa.name = "logits"}, tensor<2x16x8xf32> {moa.name = "cache.0.key"}, tensor<2x16x8xf32> {moa.name = "cache.0.value"})
// CHECK-LABEL: func.func @loss_decode(
// CHECK-SAME: tensor<2x1xi32> {moa.name = "tokens"}
// CHECK: tensor.cast %{{.*}} : tensor<?x16xf32> to tensor<2x16xf32>
func.func @loss(%emb: tensor<50x16xf32> {moa.param = "emb"},
    %wg: tensor<16x4xf32> {moa.param = "wg"}, %wq: tensor<4x16x8xf32> {moa.param = "wq"},
    %wk: tensor<16x8xf32> {moa.param = "wk"}, %wv: tensor<16x8xf32> {moa.param = "wv"},
    %wo: tensor<4x8x16xf32> {moa.param = "wo"},
    %tokens: tensor<2x?xi32> {moa.name = "tokens"})
    -> (tensor<2x?x16xf32> {moa.name = "logits"}) {
  %x = moa.embedding %tokens, %emb : tensor<2x?xi32>, tensor<50x16xf32> -> tensor<2x?x16xf32>
  %y, %r = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2) {causal}
      : tensor<2x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>,
        tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<2x?x16xf32>
}
