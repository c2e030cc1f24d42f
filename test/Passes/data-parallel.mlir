// RUN: moa-opt %s -split-input-file -moa-generate-train-step -moa-data-parallel=axis-size=4 | FileCheck %s

// A router over embedded tokens trained with a load-balancing loss: the
// statistics are all-reduced before the loss and its gradient (whose seed is
// scaled by the 4 ranks), and the gradients and the scalar results share
// one bucket, all-reduced once and averaged before the norm and AdamW.
// CHECK: module attributes {dlti.map = #dlti.map<"MPI:Implementation" = "OpenMPI">, moa.ranks = 4 : i64}
// CHECK: shard.grid @moa_data(shape = 4)
// CHECK-LABEL: func.func @loss(
// CHECK-NOT: shard.
// CHECK-LABEL: func.func @loss_train_step(
// CHECK: %[[LOGITS:.*]] = moa.embedding
// CHECK: %[[IDX:[^,]*]], %{{.*}} = moa.route %[[LOGITS]]
// CHECK: %[[LOCAL:.*]] = moa.routing_statistics %[[LOGITS]], %[[IDX]] : tensor<?x?x8xf32>, tensor<?x?x2xi32>
// CHECK: %[[GLOBAL:.*]] = shard.all_reduce %[[LOCAL]] on @moa_data grid_axes = [0] : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK: %[[LB:.*]] = moa.load_balancing_loss %[[LOGITS]], %[[IDX]] statistics(%[[GLOBAL]] : tensor<2x8xf32>)
// CHECK: %[[FOUR:.*]] = arith.constant dense<4.000000e+00> : tensor<f32>
// CHECK: %[[SEED:.*]] = arith.mulf %{{.*}}, %[[FOUR]] : tensor<f32>
// CHECK: %[[DLOGITS:.*]] = moa.load_balancing_loss_grad %[[LOGITS]], %[[IDX]], %[[SEED]] statistics(%[[GLOBAL]] : tensor<2x8xf32>)
// CHECK: %[[GRAD:.*]] = moa.embedding_grad
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<257xf32>
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[GRAD]] {{\[\[}}0, 1]] : tensor<32x8xf32> into tensor<256xf32>
// CHECK: %[[PACKED:.*]] = tensor.insert_slice %[[FLAT]] into %[[EMPTY]][0] [256] [1]
// CHECK: %[[LOSS1:.*]] = tensor.expand_shape %[[LB]] [] output_shape [1] : tensor<f32> into tensor<1xf32>
// CHECK: %[[BUCKET:.*]] = tensor.insert_slice %[[LOSS1]] into %[[PACKED]][256] [1] [1]
// CHECK: %[[SUMMED:.*]] = shard.all_reduce %[[BUCKET]] on @moa_data grid_axes = [0] : tensor<257xf32> -> tensor<257xf32>
// CHECK-NOT: shard.all_reduce
// CHECK: %[[QUARTER:.*]] = arith.constant dense<2.500000e-01> : tensor<257xf32>
// CHECK: %[[MEAN:.*]] = arith.mulf %[[SUMMED]], %[[QUARTER]] : tensor<257xf32>
// CHECK: %[[G0:.*]] = tensor.extract_slice %[[MEAN]][0] [256] [1]
// CHECK: %[[G:.*]] = tensor.expand_shape %[[G0]] {{\[\[}}0, 1]] output_shape [32, 8]
// CHECK: %[[L0:.*]] = tensor.extract_slice %[[MEAN]][256] [1] [1]
// CHECK: %[[L:.*]] = tensor.collapse_shape %[[L0]] [] : tensor<1xf32> into tensor<f32>
// CHECK: %[[NORM:.*]] = moa.global_norm %[[G]] : tensor<32x8xf32>
// CHECK: moa.adamw %{{.*}}, %[[G]], %{{.*}}, %{{.*}} step(%{{.*}}) norm(%[[NORM]])
// CHECK: return %[[L]], %[[NORM]],
func.func @loss(%table: tensor<32x8xf32> {moa.param = "embed", moa.init = "normal"},
    %ids: tensor<?x?xi32> {moa.name = "tokens"}) -> (tensor<f32> {moa.name = "lb"}) {
  %logits = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<32x8xf32> -> tensor<?x?x8xf32>
  %idx, %gates = moa.route %logits k(2) : tensor<?x?x8xf32>
  %lb = moa.load_balancing_loss %logits, %idx : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  return %lb : tensor<f32>
}
