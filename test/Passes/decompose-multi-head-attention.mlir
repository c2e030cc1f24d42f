// RUN: moa-opt %s -split-input-file -moa-decompose | FileCheck %s
// RUN: moa-opt %s -split-input-file -moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST
// RUN: moa-opt %s -split-input-file -moa-decompose -moa-cost -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST
// RUN: moa-opt %s -split-input-file -moa-generate-gradients | FileCheck %s --check-prefix=GRAD

// Heads folded into the batch: [B, T, H*h] -> [B, T, H, h] -> [B, H, T, h]
// -> [B*H, T, h]; one query slot per head; the mask broadcast to the heads.
// CHECK-LABEL: func.func @masked_self_attention
// CHECK-SAME: (%[[X:.*]]: tensor<2x16x32xf32>, %[[WQ:.*]]: tensor<32x4x8xf32>, %[[WK:.*]]: tensor<32x4x8xf32>, %[[WV:.*]]: tensor<32x4x8xf32>, %[[WO:.*]]: tensor<4x8x32xf32>, %[[M:.*]]: tensor<2x16xi1>)
// CHECK-NOT: moa.multi_head_attention
// CHECK: %[[WQ2:.*]] = tensor.collapse_shape %[[WQ]] {{\[}}[0], [1, 2]] : tensor<32x4x8xf32> into tensor<32x32xf32>
// CHECK: %[[QROWS:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[WQ2]] : tensor<2x16x32xf32>, tensor<32x32xf32>)
// CHECK: %[[QSPLIT:.*]] = tensor.expand_shape %[[QROWS]] {{\[}}[0], [1], [2, 3]] output_shape [2, 16, 4, 8] : tensor<2x16x32xf32> into tensor<2x16x4x8xf32>
// CHECK: %[[QT:.*]] = linalg.transpose ins(%[[QSPLIT]] : tensor<2x16x4x8xf32>) outs(%{{.*}} : tensor<2x4x16x8xf32>) permutation = [0, 2, 1, 3]
// CHECK: %[[QF:.*]] = tensor.collapse_shape %[[QT]] {{\[}}[0, 1], [2], [3]] : tensor<2x4x16x8xf32> into tensor<8x16x8xf32>
// CHECK: %[[Q:.*]] = tensor.expand_shape %[[QF]] {{\[}}[0], [1], [2, 3]] output_shape [8, 16, 1, 8] : tensor<8x16x8xf32> into tensor<8x16x1x8xf32>
// CHECK: linalg.contract {{.*}} ins(%[[X]], %{{.*}} : tensor<2x16x32xf32>, tensor<32x32xf32>)
// CHECK: %[[K:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2], [3]] : tensor<2x4x16x8xf32> into tensor<8x16x8xf32>
// CHECK: linalg.contract {{.*}} ins(%[[X]], %{{.*}} : tensor<2x16x32xf32>, tensor<32x32xf32>)
// CHECK: %[[V:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2], [3]] : tensor<2x4x16x8xf32> into tensor<8x16x8xf32>
// CHECK: %[[MB:.*]] = linalg.broadcast ins(%[[M]] : tensor<2x16xi1>) outs(%{{.*}} : tensor<2x4x16xi1>) dimensions = [1]
// CHECK: %[[MF:.*]] = tensor.collapse_shape %[[MB]] {{\[}}[0, 1], [2]] : tensor<2x4x16xi1> into tensor<8x16xi1>
// CHECK: %[[A:.*]] = moa.multi_query_attention %[[Q]], %[[K]], %[[V]] key_padding_mask(%[[MF]] : tensor<8x16xi1>) {causal} : tensor<8x16x1x8xf32>, tensor<8x16x8xf32>, tensor<8x16x8xf32>
// CHECK: %[[A3:.*]] = tensor.collapse_shape %[[A]] {{\[}}[0], [1], [2, 3]] : tensor<8x16x1x8xf32> into tensor<8x16x8xf32>
// CHECK: %[[AH:.*]] = tensor.expand_shape %[[A3]] {{\[}}[0, 1], [2], [3]] output_shape [2, 4, 16, 8] : tensor<8x16x8xf32> into tensor<2x4x16x8xf32>
// CHECK: %[[AT:.*]] = linalg.transpose ins(%[[AH]] : tensor<2x4x16x8xf32>) outs(%{{.*}} : tensor<2x16x4x8xf32>) permutation = [0, 2, 1, 3]
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[AT]] {{\[}}[0], [1], [2, 3]] : tensor<2x16x4x8xf32> into tensor<2x16x32xf32>
// CHECK: %[[WO2:.*]] = tensor.collapse_shape %[[WO]] {{\[}}[0, 1], [2]] : tensor<4x8x32xf32> into tensor<32x32xf32>
// CHECK: %[[Y:.*]] = linalg.contract {{.*}} ins(%[[ROWS]], %[[WO2]] : tensor<2x16x32xf32>, tensor<32x32xf32>)
// CHECK: return %[[Y]]
// 4 d H h per token (Q and O per query token, K and V per key token: 2 d H h
// each) and 2 H h per pair: 32 tokens * 2 * 2048 + 2 * 16 * 16 * 64; the
// decomposition counts the same. Parameters: 4 * 32 * 32.
// COST-LABEL: moa-cost @masked_self_attention
// COST: total: macs 163840, params 4096
// GRAD-LABEL: func.func @masked_self_attention_grad
// GRAD-SAME: -> (tensor<2x16x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>)
// GRAD: moa.multi_query_attention_grad
func.func @masked_self_attention(%x: tensor<2x16x32xf32>, %wq: tensor<32x4x8xf32>,
    %wk: tensor<32x4x8xf32>, %wv: tensor<32x4x8xf32>, %wo: tensor<4x8x32xf32>,
    %m: tensor<2x16xi1>) -> tensor<2x16x32xf32> {
  %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo key_padding_mask(%m : tensor<2x16xi1>) {causal}
      : tensor<2x16x32xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<32x4x8xf32>, tensor<4x8x32xf32>
  return %y : tensor<2x16x32xf32>
}

// -----

// Cross-attention with dynamic sizes: K and V project the memory; the model
// dimension of the memory is checked at run time where the types cannot.
// CHECK-LABEL: func.func @cross_attention_dynamic
// CHECK: cf.assert %{{.*}}, "moa.multi_head_attention: dimension 2 of 'memory' differs from dimension 2 of 'x' (the model dimension d)"
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3]] output_shape [%{{.*}}, %{{.*}}, 2, 16] : tensor<?x?x32xf32> into tensor<?x?x2x16xf32>
// CHECK: moa.multi_query_attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x1x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>
// COST-LABEL: moa-cost @cross_attention_dynamic
// COST: total: macs ? (0 + terms of dynamic size), params 4096
// GRAD-LABEL: func.func @cross_attention_dynamic_grad
// GRAD-SAME: -> (tensor<?x?x32xf32>, tensor<32x2x16xf32>, tensor<32x2x16xf32>, tensor<32x2x16xf32>, tensor<2x16x32xf32>, tensor<?x?x?xf32>)
func.func @cross_attention_dynamic(%x: tensor<?x?x32xf32>, %wq: tensor<32x2x16xf32>,
    %wk: tensor<32x2x16xf32>, %wv: tensor<32x2x16xf32>, %wo: tensor<2x16x32xf32>,
    %mem: tensor<?x?x?xf32>) -> tensor<?x?x32xf32> {
  %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo memory(%mem : tensor<?x?x?xf32>)
      : tensor<?x?x32xf32>, tensor<32x2x16xf32>, tensor<32x2x16xf32>, tensor<32x2x16xf32>, tensor<2x16x32xf32>
  return %y : tensor<?x?x32xf32>
}
