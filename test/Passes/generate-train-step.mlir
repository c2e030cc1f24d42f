// RUN: moa-opt %s -split-input-file -moa-generate-train-step="lr=1.0e-3 warmup-steps=100 max-grad-norm=1.0 weight-decay=0.01" | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-generate-train-step | FileCheck %s --check-prefix=DEFAULT
// RUN: moa-opt %s -split-input-file -moa-generate-train-step="function=other beta1=0.8 beta2=0.999 epsilon=1.0e-6 warmup-steps=0" | FileCheck %s --check-prefix=OTHER

// Parameters (moa.param) come first, then their first and second moments,
// the step, and the other arguments in order. The results are those of the
// loss function, the gradient norm, then the new parameters and moments,
// each tied to (returned in the buffer of) its argument: updated in place.
// CHECK-LABEL: func.func @loss(
// CHECK-LABEL: func.func @loss_train_step(
// CHECK-SAME: %[[PE:[^:]*]]: tensor<32x16xf32> {moa.init = "normal", moa.name = "p.embed"}, %[[PO:[^:]*]]: tensor<16x32xf32> {moa.name = "p.out"},
// CHECK-SAME: %[[ME:[^:]*]]: tensor<32x16xf32> {moa.name = "m.embed"}, %[[MO:[^:]*]]: tensor<16x32xf32> {moa.name = "m.out"},
// CHECK-SAME: %[[VE:[^:]*]]: tensor<32x16xf32> {moa.name = "v.embed"}, %[[VO:[^:]*]]: tensor<16x32xf32> {moa.name = "v.out"},
// CHECK-SAME: %[[STEP:[^:]*]]: tensor<f32> {moa.name = "step"},
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<?x?xi32> {moa.name = "ids"}, %[[TGT:[^:]*]]: tensor<?x?xi32> {moa.name = "targets"})
// CHECK-SAME: -> (tensor<f32> {moa.name = "loss"}, tensor<?x?x32xf32>, tensor<f32> {moa.name = "grad_norm"},
// CHECK-SAME: tensor<32x16xf32> {moa.name = "p.embed", moa.tied = 0 : i64}, tensor<16x32xf32> {moa.name = "p.out", moa.tied = 1 : i64},
// CHECK-SAME: tensor<32x16xf32> {moa.name = "m.embed", moa.tied = 2 : i64}, tensor<16x32xf32> {moa.name = "m.out", moa.tied = 3 : i64},
// CHECK-SAME: tensor<32x16xf32> {moa.name = "v.embed", moa.tied = 4 : i64}, tensor<16x32xf32> {moa.name = "v.out", moa.tied = 5 : i64})
// The loss is seeded with 1.
// CHECK: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[X:.*]] = moa.embedding %[[IDS]], %[[PE]]
// CHECK: %[[LOGITS:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[PO]]
// CHECK: %[[LOSS:.*]] = moa.cross_entropy %[[LOGITS]], %[[TGT]]
// CHECK: %[[DLOGITS:.*]] = moa.cross_entropy_grad %[[LOGITS]], %[[TGT]], %[[ONE]]
// CHECK: %[[GO:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[DLOGITS]]
// CHECK: %[[GE:.*]] = moa.embedding_grad %[[IDS]], %[[PE]]
// CHECK: %[[NORM:.*]] = moa.global_norm %[[GE]], %[[GO]] : tensor<32x16xf32>, tensor<16x32xf32>
// CHECK: %[[PE1:new_param[^,]*]], %[[ME1:new_m[^,]*]], %[[VE1:new_v[^ ]*]] = moa.adamw %[[PE]], %[[GE]], %[[ME]], %[[VE]] step(%[[STEP]]) norm(%[[NORM]])
// CHECK-SAME: {lr = 1.000000e-03 : f32, max_grad_norm = 1.000000e+00 : f32, warmup_steps = 100 : i64, weight_decay = 0.00999999977 : f32} : tensor<32x16xf32>
// CHECK: %[[PO1:new_param[^,]*]], %[[MO1:new_m[^,]*]], %[[VO1:new_v[^ ]*]] = moa.adamw %[[PO]], %[[GO]], %[[MO]], %[[VO]] step(%[[STEP]]) norm(%[[NORM]])
// CHECK-SAME: {lr = 1.000000e-03 : f32, max_grad_norm = 1.000000e+00 : f32, warmup_steps = 100 : i64, weight_decay = 0.00999999977 : f32} : tensor<16x32xf32>
// CHECK-NOT: moa.adamw
// CHECK: return %[[LOSS]], %[[LOGITS]], %[[NORM]], %[[PE1]], %[[PO1]], %[[ME1]], %[[MO1]], %[[VE1]], %[[VO1]] :
// The official MoA defaults: lr 7e-4, 4000 warm-up steps, no clipping, no
// decay, betas (0.9, 0.98) (defaults of the op, not printed).
// DEFAULT-LABEL: func.func @loss_train_step(
// DEFAULT: moa.global_norm
// DEFAULT-COUNT-2: moa.adamw {{.*}} {lr = 7.000000e-04 : f32, warmup_steps = 4000 : i64} : tensor<
// DEFAULT-NEXT: return
// With `function=other`, only @other gets a step; its loss is an argument,
// so the parameter's gradient is zeros.
// OTHER-NOT: @loss_train_step
// OTHER-LABEL: func.func @other_train_step(%{{[^:]*}}: tensor<4xf32> {moa.name = "p.w"}
// OTHER: %[[ZEROS:.*]] = linalg.fill
// OTHER: moa.global_norm %[[ZEROS]] : tensor<4xf32>
#rows = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#weight = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @loss(%table: tensor<32x16xf32> {moa.param = "embed", moa.init = "normal"},
    %ids: tensor<?x?xi32> {moa.name = "ids"},
    %w: tensor<16x32xf32> {moa.param = "out"},
    %targets: tensor<?x?xi32> {moa.name = "targets"})
    -> (tensor<f32> {moa.name = "loss"}, tensor<?x?x32xf32>) {
  %x = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<32x16xf32> -> tensor<?x?x16xf32>
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %ids, %c0 : tensor<?x?xi32>
  %t = tensor.dim %ids, %c1 : tensor<?x?xi32>
  %e = tensor.empty(%b, %t) : tensor<?x?x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%x, %w : tensor<?x?x16xf32>, tensor<16x32xf32>) outs(%f : tensor<?x?x32xf32>)
      -> tensor<?x?x32xf32>
  %ce = moa.cross_entropy %logits, %targets : tensor<?x?x32xf32>, tensor<?x?xi32>
  return %ce, %logits : tensor<f32>, tensor<?x?x32xf32>
}
func.func @other(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}

// -----

// A whole MoA layer under a loss, with `function=`: the gradient of every
// parameter reaches its update; a parameter nothing flows to gets zeros (and
// is still updated: weight decay applies).
// OTHER-LABEL: func.func @other_train_step(
// OTHER-SAME: %[[WG:[^:]*]]: tensor<16x4xf32> {moa.name = "p.wg"}, %[[WO:[^:]*]]: tensor<4x8x16xf32> {moa.name = "p.wo"}, %[[UNUSED:[^:]*]]: tensor<3xf32> {moa.name = "p.unused"},
// OTHER-SAME: %{{[^:]*}}: tensor<16x4xf32> {moa.name = "m.wg"}, %{{[^:]*}}: tensor<4x8x16xf32> {moa.name = "m.wo"}, %{{[^:]*}}: tensor<3xf32> {moa.name = "m.unused"},
// OTHER-SAME: %{{[^:]*}}: tensor<16x4xf32> {moa.name = "v.wg"}, %{{[^:]*}}: tensor<4x8x16xf32> {moa.name = "v.wo"}, %{{[^:]*}}: tensor<3xf32> {moa.name = "v.unused"},
// OTHER-SAME: %[[STEP:[^:]*]]: tensor<f32> {moa.name = "step"}, %[[X:[^:]*]]: tensor<2x5x16xf32>, %[[A:[^:]*]]: tensor<f32>, %{{[^:]*}}: tensor<2x5xi32>,
// OTHER-SAME: %{{[^:]*}}: tensor<4x16x8xf32>, %{{[^:]*}}: tensor<16x8xf32>, %{{[^:]*}}: tensor<16x8xf32>)
// OTHER-SAME: -> (tensor<f32>, tensor<f32> {moa.name = "grad_norm"}, tensor<16x4xf32> {moa.name = "p.wg", moa.tied = 0 : i64}, tensor<4x8x16xf32> {moa.name = "p.wo", moa.tied = 1 : i64}, tensor<3xf32> {moa.name = "p.unused", moa.tied = 2 : i64},
// OTHER: moa.route
// OTHER: moa.router_z_loss_grad
// OTHER: moa.cross_entropy_grad
// OTHER: %{{.*}}, %[[GWO:[^,]*]], %{{.*}} = moa.grouped_matmul_grad {{.*}}, %[[WO]], {{.*}} gates(
// OTHER: moa.multi_query_attention_grad
// OTHER: moa.route_grad
// OTHER: %[[GWG:.*]] = linalg.contract {{.*}} ins(%[[X]], %{{.*}} : tensor<2x5x16xf32>, tensor<2x5x4xf32>) outs(%{{.*}} : tensor<16x4xf32>)
// OTHER: %[[GU:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<3xf32>)
// OTHER: %[[NORM:.*]] = moa.global_norm %[[GWG]], %[[GWO]], %[[GU]] : tensor<16x4xf32>, tensor<4x8x16xf32>, tensor<3xf32>
// OTHER: moa.adamw %[[WG]], %[[GWG]], {{.*}} step(%[[STEP]]) norm(%[[NORM]]) {beta1 = 8.000000e-01 : f32, beta2 = 9.990000e-01 : f32, epsilon = 9.99999997E-7 : f32, lr = 7.000000e-04 : f32} : tensor<16x4xf32>
// OTHER: moa.adamw %[[WO]], %[[GWO]], {{.*}} : tensor<4x8x16xf32>
// OTHER: moa.adamw %[[UNUSED]], %[[GU]], {{.*}} : tensor<3xf32>
// CHECK-NOT: @other_train_step
// DEFAULT-NOT: @other_train_step
func.func @other(%wg: tensor<16x4xf32> {moa.param = "wg"}, %x: tensor<2x5x16xf32>,
    %wo: tensor<4x8x16xf32> {moa.param = "wo"}, %a: tensor<f32>,
    %unused: tensor<3xf32> {moa.param = "unused"}, %targets: tensor<2x5xi32>,
    %wq: tensor<4x16x8xf32>, %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>) -> tensor<f32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>,
        tensor<16x8xf32>, tensor<4x8x16xf32>
  %ce = moa.cross_entropy %y, %targets : tensor<2x5x16xf32>, tensor<2x5xi32>
  %z = moa.router_z_loss %l : tensor<2x5x4xf32>
  %0 = arith.addf %ce, %z : tensor<f32>
  %loss = arith.addf %0, %a : tensor<f32>
  return %loss : tensor<f32>
}
func.func @loss(%a: tensor<f32>, %w: tensor<4xf32> {moa.param = "w"}) -> tensor<f32> {
  return %a : tensor<f32>
}
