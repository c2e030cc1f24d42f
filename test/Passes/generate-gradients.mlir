// RUN: moa-opt %s -split-input-file -moa-generate-gradients | FileCheck %s
// The last split alone, with `functions=`:
// RUN: sed -n '/BEGIN-FUNCTIONS/,$p' %s | moa-opt -moa-generate-gradients=functions=second,hidden | FileCheck %s --check-prefix=ONLY

// One layer: @layer_grad takes the arguments and one adjoint per float
// result, returns one gradient per argument. The layer is decomposed and
// replayed, then each primitive's adjoint is emitted in reverse order.
// CHECK-DAG: #[[ROWS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[WEIGHT:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[WGRAD:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-LABEL: func.func @layer(
// CHECK: moa.mixture_attention
// CHECK-LABEL: func.func @layer_grad(
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x5x16xf32>, %[[WG:[^:]*]]: tensor<16x4xf32>, %[[WQ:[^:]*]]: tensor<4x16x8xf32>, %[[WK:[^:]*]]: tensor<16x8xf32>, %[[WV:[^:]*]]: tensor<16x8xf32>, %[[WO:[^:]*]]: tensor<4x8x16xf32>, %[[DY:[^:]*]]: tensor<2x5x16xf32>, %[[DL:[^:]*]]: tensor<2x5x4xf32>)
// CHECK-SAME: -> (tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>)
// CHECK-NOT: moa.mixture_attention
// The forward pass, replayed.
// CHECK: %[[LOGITS:.*]] = linalg.contract indexing_maps = [#[[ROWS]], #[[WEIGHT]], #[[OUT]]] ins(%[[X]], %[[WG]]
// CHECK: %[[IDX:.*]], %[[GATES:.*]] = moa.route %[[LOGITS]] k(2)
// CHECK: %[[PERM:.*]], %[[OFF:.*]] = moa.dispatch %[[IDX]] experts(4)
// CHECK: %[[Q:.*]] = moa.grouped_matmul %[[X]], %[[WQ]], %[[PERM]], %[[OFF]] :
// CHECK: %[[K:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[WK]]
// CHECK: %[[V:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[WV]]
// CHECK: %[[ATT:[^,]*]], %[[LSE:.*]] = moa.multi_query_attention %[[Q]], %[[K]], %[[V]] {with_lse}
// CHECK: moa.grouped_matmul %[[ATT]], %[[WO]], %[[PERM]], %[[OFF]] gates(%[[GATES]]
// The output projection with its gate gradient, then attention.
// CHECK: %[[DATT:.*]], %[[DWO:.*]], %[[DGATES:.*]] = moa.grouped_matmul_grad %[[ATT]], %[[WO]], %[[PERM]], %[[OFF]], %[[DY]] gates(%[[GATES]] : tensor<2x5x2xf32>) : {{.*}} -> tensor<2x5x2xf32>
// The attention backward reads the forward's row log-sum-exp.
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = moa.multi_query_attention_grad %[[Q]], %[[K]], %[[V]], %[[ATT]], %[[DATT]] lse(%[[LSE]] : tensor<2x5x2xf32>) :
// Value and key projections: dx = dV Wv^T (+ dK Wk^T), dWv = x^T dV.
// CHECK: %[[WVT:.*]] = linalg.transpose ins(%[[WV]] : tensor<16x8xf32>) outs(%{{.*}} : tensor<8x16xf32>) permutation = [1, 0]
// CHECK: %[[DXV:.*]] = linalg.contract indexing_maps = [#[[ROWS]], #[[WEIGHT]], #[[OUT]]] ins(%[[DV]], %[[WVT]] : tensor<2x5x8xf32>, tensor<8x16xf32>)
// CHECK: %[[DWV:.*]] = linalg.contract indexing_maps = [#[[OUT]], #[[ROWS]], #[[WGRAD]]] ins(%[[X]], %[[DV]] : tensor<2x5x16xf32>, tensor<2x5x8xf32>) outs(%{{.*}} : tensor<16x8xf32>)
// CHECK: %[[WKT:.*]] = linalg.transpose ins(%[[WK]] : tensor<16x8xf32>)
// CHECK: %[[DXK:.*]] = linalg.contract {{.*}} ins(%[[DK]], %[[WKT]]
// CHECK: %[[DWK:.*]] = linalg.contract indexing_maps = [#[[OUT]], #[[ROWS]], #[[WGRAD]]] ins(%[[X]], %[[DK]]
// CHECK: %[[DX1:.*]] = linalg.add ins(%[[DXV]], %[[DXK]]
// The query projection (no gates: two results).
// CHECK: %[[DXQ:.*]], %[[DWQ:.*]] = moa.grouped_matmul_grad %[[X]], %[[WQ]], %[[PERM]], %[[OFF]], %[[DQ]] : tensor<2x5x16xf32>, tensor<4x16x8xf32>, tensor<20xi32>, tensor<5xi32>, tensor<2x5x2x8xf32>{{$}}
// CHECK: %[[DX2:.*]] = linalg.add ins(%[[DX1]], %[[DXQ]]
// The router: through the gates, plus the adjoint of the logits result.
// CHECK: %[[DLR:.*]] = moa.route_grad %[[LOGITS]], %[[IDX]], %[[DGATES]] : tensor<2x5x4xf32>, tensor<2x5x2xi32>, tensor<2x5x2xf32>
// CHECK: %[[DLOGITS:.*]] = linalg.add ins(%[[DL]], %[[DLR]]
// CHECK: %[[WGT:.*]] = linalg.transpose ins(%[[WG]] : tensor<16x4xf32>)
// CHECK: %[[DXG:.*]] = linalg.contract {{.*}} ins(%[[DLOGITS]], %[[WGT]]
// CHECK: %[[DWG:.*]] = linalg.contract {{.*}} ins(%[[X]], %[[DLOGITS]]
// CHECK: %[[DX:.*]] = linalg.add ins(%[[DX2]], %[[DXG]]
// CHECK: return %[[DX]], %[[DWG]], %[[DWQ]], %[[DWK]], %[[DWV]], %[[DWO]] :
func.func @layer(%x: tensor<2x5x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>)
    -> (tensor<2x5x16xf32>, tensor<2x5x4xf32>) {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)
      : tensor<2x5x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>,
        tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y, %l : tensor<2x5x16xf32>, tensor<2x5x4xf32>
}

// -----

// Dynamic batch and sequence, every option of the layer: the masks (i1
// arguments) get no gradient, the attributes reach the backward ops.
// CHECK-LABEL: func.func @layer_options_grad(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x?x16xf32>, %{{[^:]*}}: tensor<16x4xf32>, %{{[^:]*}}: tensor<4x16x8xf32>, %{{[^:]*}}: tensor<16x8xf32>, %{{[^:]*}}: tensor<16x8xf32>, %{{[^:]*}}: tensor<4x8x16xf32>, %[[MEM:[^:]*]]: tensor<?x?x16xf32>, %[[KPM:[^:]*]]: tensor<?x?xi1>, %[[QPM:[^:]*]]: tensor<?x?xi1>, %[[DY:[^:]*]]: tensor<?x?x16xf32>)
// CHECK-SAME: -> (tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>, tensor<?x?x16xf32>) {
// CHECK: moa.route %{{.*}} k(3) query_padding_mask(%[[QPM]] : tensor<?x?xi1>) {gating = #moa.gating<topk_softmax>, renormalize}
// CHECK: moa.multi_query_attention_grad {{.*}} key_padding_mask(%[[KPM]] : tensor<?x?xi1>) lse(%{{.*}} : tensor<?x?x3xf32>) {causal, scale = 2.500000e-01 : f32} : tensor<?x?x3x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
// CHECK: linalg.contract {{.*}} ins(%[[MEM]], %{{.*}} : tensor<?x?x16xf32>, tensor<?x?x8xf32>) outs(%{{.*}} : tensor<16x8xf32>)
// CHECK: moa.route_grad {{.*}} {gating = #moa.gating<topk_softmax>, renormalize} : tensor<?x?x4xf32>, tensor<?x?x3xi32>, tensor<?x?x3xf32>
// CHECK: return
func.func @layer_options(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>, %wq: tensor<4x16x8xf32>,
    %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>, %wo: tensor<4x8x16xf32>,
    %mem: tensor<?x?x16xf32>, %kpm: tensor<?x?xi1>, %qpm: tensor<?x?xi1>) -> tensor<?x?x16xf32> {
  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(3)
      memory(%mem : tensor<?x?x16xf32>) key_padding_mask(%kpm : tensor<?x?xi1>)
      query_padding_mask(%qpm : tensor<?x?xi1>)
      {gating = #moa.gating<topk_softmax>, renormalize, causal, scale = 0.25 : f32}
      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>, tensor<16x8xf32>,
        tensor<16x8xf32>, tensor<4x8x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Element-wise linalg ops: x = max(((a + b) - c) * a, b).
// CHECK-LABEL: func.func @elementwise_grad(
// CHECK-SAME: %[[A:[^:]*]]: tensor<4x8xf32>, %[[B:[^:]*]]: tensor<4x8xf32>, %[[C:[^:]*]]: tensor<4x8xf32>, %[[G:[^:]*]]: tensor<4x8xf32>)
// CHECK-SAME: -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK: %[[S:.*]] = linalg.add ins(%[[A]], %[[B]]
// CHECK: %[[D:.*]] = linalg.sub ins(%[[S]], %[[C]]
// CHECK: %[[M:.*]] = linalg.mul ins(%[[D]], %[[A]]
// CHECK: linalg.max ins(%[[M]], %[[B]]
// max: the adjoint goes to the larger operand (the first on ties... ogt).
// CHECK: %[[DM:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[B]], %[[G]] :
// CHECK: arith.cmpf ogt
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst
// CHECK: %[[DBMAX:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[B]], %[[G]] :
// CHECK: arith.cmpf ogt
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %
// mul: d(d) = dm * a, d(a) = dm * d.
// CHECK: %[[DD:.*]] = linalg.mul ins(%[[DM]], %[[A]]
// CHECK: %[[DAMUL:.*]] = linalg.mul ins(%[[DM]], %[[D]]
// sub: d(c) = 0 - dd.
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: %[[DC:.*]] = linalg.sub ins(%[[ZERO]], %[[DD]]
// add: both operands get dd.
// CHECK: %[[DA:.*]] = linalg.add ins(%[[DAMUL]], %[[DD]]
// CHECK: %[[DB:.*]] = linalg.add ins(%[[DBMAX]], %[[DD]]
// CHECK: return %[[DA]], %[[DB]], %[[DC]] :
func.func @elementwise(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %c: tensor<4x8xf32>)
    -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %s = linalg.add ins(%a, %b : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %d = linalg.sub ins(%s, %c : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %m = linalg.mul ins(%d, %a : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %x = linalg.max ins(%m, %b : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %x : tensor<4x8xf32>
}

// -----

// Scalar arithmetic on tensor<f32>: loss = (a + 0.01 b) - b.
// CHECK-LABEL: func.func @scalars_grad(
// CHECK-SAME: %[[A:[^:]*]]: tensor<f32>, %[[B:[^:]*]]: tensor<f32>, %[[G:[^:]*]]: tensor<f32>) -> (tensor<f32>, tensor<f32>)
// CHECK: %[[W:.*]] = arith.constant dense<0.00999999977> : tensor<f32>
// CHECK: arith.subf
// CHECK: %[[NEG:.*]] = arith.negf %[[G]] : tensor<f32>
// CHECK: %[[SCALED:.*]] = arith.mulf %[[G]], %[[W]] : tensor<f32>
// CHECK: %[[DB:.*]] = linalg.add ins(%[[NEG]], %[[SCALED]] : tensor<f32>, tensor<f32>)
// CHECK: return %[[G]], %[[DB]] : tensor<f32>, tensor<f32>
func.func @scalars(%a: tensor<f32>, %b: tensor<f32>) -> tensor<f32> {
  %w = arith.constant dense<0.01> : tensor<f32>
  %0 = arith.mulf %w, %b : tensor<f32>
  %1 = arith.addf %a, %0 : tensor<f32>
  %2 = arith.subf %1, %b : tensor<f32>
  return %2 : tensor<f32>
}

// -----

// A small language model loss: embedding, layer norm, router projection with
// both auxiliary losses, vocabulary projection, cross-entropy. Token ids,
// targets and the mask get no gradient.
// CHECK-LABEL: func.func @lm_grad(
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<2x5xi32>, %[[TGT:[^:]*]]: tensor<2x5xi32>, %[[TABLE:[^:]*]]: tensor<32x16xf32>, %[[GAMMA:[^:]*]]: tensor<16xf32>, %{{[^:]*}}: tensor<16xf32>, %{{[^:]*}}: tensor<16x4xf32>, %{{[^:]*}}: tensor<16x32xf32>, %[[QPM:[^:]*]]: tensor<2x5xi1>, %[[DLOSS:[^:]*]]: tensor<f32>)
// CHECK-SAME: -> (tensor<32x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x4xf32>, tensor<16x32xf32>)
// CHECK: %[[X:.*]] = moa.embedding %[[IDS]], %[[TABLE]]
// CHECK: %[[H:.*]] = moa.layer_norm %[[X]], %[[GAMMA]]
// CHECK: %[[L:.*]] = linalg.contract
// CHECK: %[[I:.*]], %{{.*}} = moa.route %[[L]] k(2)
// CHECK: %[[LOGITS:.*]] = linalg.contract
// CHECK: moa.cross_entropy %[[LOGITS]], %[[TGT]]
// CHECK: %[[DAUX:.*]] = arith.mulf %[[DLOSS]], %cst
// CHECK: %[[DLOGITS:.*]] = moa.cross_entropy_grad %[[LOGITS]], %[[TGT]], %[[DLOSS]] : tensor<2x5x32xf32>, tensor<2x5xi32>
// CHECK: moa.router_z_loss_grad %[[L]], %[[DAUX]] query_padding_mask(%[[QPM]] : tensor<2x5xi1>) : tensor<2x5x4xf32>
// CHECK: moa.load_balancing_loss_grad %[[L]], %[[I]], %[[DAUX]] query_padding_mask(%[[QPM]] : tensor<2x5xi1>) : tensor<2x5x4xf32>, tensor<2x5x2xi32>
// CHECK: %[[DX:.*]], %[[DGAMMA:.*]], %[[DBETA:.*]] = moa.layer_norm_grad %[[X]], %[[GAMMA]], %{{.*}} {epsilon = 9.99999997E-7 : f32} : tensor<2x5x16xf32>, tensor<16xf32>
// CHECK: %[[DTABLE:.*]] = moa.embedding_grad %[[IDS]], %[[TABLE]], %[[DX]] : tensor<2x5xi32>, tensor<32x16xf32>, tensor<2x5x16xf32>
// CHECK: return %[[DTABLE]], %[[DGAMMA]], %[[DBETA]], %{{.*}}, %{{.*}} :
#rows = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#weight = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @lm(%ids: tensor<2x5xi32>, %targets: tensor<2x5xi32>, %table: tensor<32x16xf32>,
    %gamma: tensor<16xf32>, %beta: tensor<16xf32>, %wg: tensor<16x4xf32>,
    %wout: tensor<16x32xf32>, %qpm: tensor<2x5xi1>) -> tensor<f32> {
  %x = moa.embedding %ids, %table : tensor<2x5xi32>, tensor<32x16xf32> -> tensor<2x5x16xf32>
  %h = moa.layer_norm %x, %gamma, %beta {epsilon = 1.0e-6 : f32} : tensor<2x5x16xf32>, tensor<16xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %l = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%h, %wg : tensor<2x5x16xf32>, tensor<16x4xf32>) outs(%f : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  %i, %g = moa.route %l k(2) : tensor<2x5x4xf32>
  %lb = moa.load_balancing_loss %l, %i query_padding_mask(%qpm : tensor<2x5xi1>)
      : tensor<2x5x4xf32>, tensor<2x5x2xi32>
  %z = moa.router_z_loss %l query_padding_mask(%qpm : tensor<2x5xi1>) : tensor<2x5x4xf32>
  %e2 = tensor.empty() : tensor<2x5x32xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x5x32xf32>) -> tensor<2x5x32xf32>
  %logits = linalg.contract indexing_maps = [#rows, #weight, #out]
      ins(%h, %wout : tensor<2x5x16xf32>, tensor<16x32xf32>) outs(%f2 : tensor<2x5x32xf32>) -> tensor<2x5x32xf32>
  %ce = moa.cross_entropy %logits, %targets : tensor<2x5x32xf32>, tensor<2x5xi32>
  %c = arith.constant dense<0.01> : tensor<f32>
  %aux = arith.addf %lb, %z : tensor<f32>
  %w = arith.mulf %c, %aux : tensor<f32>
  %loss = arith.addf %ce, %w : tensor<f32>
  return %loss : tensor<f32>
}

// -----

// The importance CV^2 loss of the gates of a router: its gradient w.r.t. the
// gates (same indices and number of experts) feeds the router's backward.
// CHECK-LABEL: func.func @importance_cv_grad(
// CHECK-SAME: %[[L:[^:]*]]: tensor<?x?x4xf32>, %[[QPM:[^:]*]]: tensor<?x?xi1>, %[[DLOSS:[^:]*]]: tensor<f32>) -> tensor<?x?x4xf32>
// CHECK: %[[I:.*]], %[[G:.*]] = moa.route %[[L]] k(2) query_padding_mask(%[[QPM]] : tensor<?x?xi1>) {renormalize}
// CHECK: %[[DG:.*]] = moa.importance_cv_loss_grad %[[G]], %[[I]], %[[DLOSS]] experts(4) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
// CHECK: %[[DL:.*]] = moa.route_grad %[[L]], %[[I]], %[[DG]] {renormalize} : tensor<?x?x4xf32>, tensor<?x?x2xi32>, tensor<?x?x2xf32>
// CHECK: return %[[DL]] : tensor<?x?x4xf32>
func.func @importance_cv(%l: tensor<?x?x4xf32>, %qpm: tensor<?x?xi1>) -> tensor<f32> {
  %i, %g = moa.route %l k(2) query_padding_mask(%qpm : tensor<?x?xi1>) {renormalize}
      : tensor<?x?x4xf32>
  %c = moa.importance_cv_loss %g, %i experts(4) : tensor<?x?x2xf32>, tensor<?x?x2xi32>
  return %c : tensor<f32>
}

// -----

// The mutual information loss of a function's router logits: its gradient
// (same query padding mask) w.r.t. the logits, and with no padding mask none.
// CHECK-LABEL: func.func @mutual_information_grad(
// CHECK-SAME: %[[L:[^:]*]]: tensor<?x?x4xf32>, %[[QPM:[^:]*]]: tensor<?x?xi1>, %[[DLOSS:[^:]*]]: tensor<f32>) -> tensor<?x?x4xf32>
// CHECK: moa.mutual_information_loss %[[L]] query_padding_mask(%[[QPM]] : tensor<?x?xi1>) : tensor<?x?x4xf32>
// CHECK: %[[DL:.*]] = moa.mutual_information_loss_grad %[[L]], %[[DLOSS]] query_padding_mask(%[[QPM]] : tensor<?x?xi1>) : tensor<?x?x4xf32>
// CHECK: return %[[DL]] : tensor<?x?x4xf32>
// CHECK-LABEL: func.func @mutual_information_unmasked_grad(
// CHECK-SAME: %[[L2:[^:]*]]: tensor<2x3x8xf32>, %[[DLOSS2:[^:]*]]: tensor<f32>) -> tensor<2x3x8xf32>
// CHECK: %[[DL2:.*]] = moa.mutual_information_loss_grad %[[L2]], %[[DLOSS2]] : tensor<2x3x8xf32>
// CHECK: return %[[DL2]] : tensor<2x3x8xf32>
func.func @mutual_information(%l: tensor<?x?x4xf32>, %qpm: tensor<?x?xi1>) -> tensor<f32> {
  %mi = moa.mutual_information_loss %l query_padding_mask(%qpm : tensor<?x?xi1>)
      : tensor<?x?x4xf32>
  return %mi : tensor<f32>
}
func.func @mutual_information_unmasked(%l: tensor<2x3x8xf32>) -> tensor<f32> {
  %mi = moa.mutual_information_loss %l : tensor<2x3x8xf32>
  return %mi : tensor<f32>
}

// -----

// Integer arguments and results take part in neither list: an i32 result
// gets no adjoint argument, an i32 argument no gradient. An argument nothing
// flows to gets zeros.
// CHECK-LABEL: func.func @integers_grad(
// CHECK-SAME: %[[L:[^:]*]]: tensor<2x3x4xf32>, %{{[^:]*}}: tensor<2x3xi32>, %[[UNUSED:[^:]*]]: tensor<7xf32>, %[[DG:[^:]*]]: tensor<2x3x2xf32>)
// CHECK-SAME: -> (tensor<2x3x4xf32>, tensor<7xf32>)
// CHECK: %[[I:.*]], %{{.*}} = moa.route %[[L]] k(2)
// CHECK: %[[DL:.*]] = moa.route_grad %[[L]], %[[I]], %[[DG]]
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<7xf32>)
// CHECK: return %[[DL]], %[[ZEROS]] : tensor<2x3x4xf32>, tensor<7xf32>
func.func @integers(%l: tensor<2x3x4xf32>, %ids: tensor<2x3xi32>, %unused: tensor<7xf32>)
    -> (tensor<2x3x2xi32>, tensor<2x3x2xf32>, tensor<2x3xi32>) {
  %i, %g = moa.route %l k(2) : tensor<2x3x4xf32>
  return %i, %g, %ids : tensor<2x3x2xi32>, tensor<2x3x2xf32>, tensor<2x3xi32>
}

// -----

// Ops without a rule are fine off the path to the results (the unused one
// is even dropped from the replay). A result that is an argument passes its
// adjoint on.
// CHECK-LABEL: func.func @off_path_grad(
// CHECK-SAME: %[[A:[^:]*]]: tensor<4xf32>, %[[G:[^:]*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: return %[[G]] : tensor<4xf32>
func.func @off_path(%a: tensor<4xf32>) -> tensor<4xf32> {
  %unused = math.exp %a : tensor<4xf32>
  return %a : tensor<4xf32>
}

// -----

// BEGIN-FUNCTIONS
// Private functions and declarations are skipped by default; `functions=`
// picks functions by name, private ones included, and only those.
// CHECK-LABEL: func.func @first_grad(
// CHECK-NOT: func.func @hidden_grad
// CHECK-LABEL: func.func @second_grad(
// CHECK-NOT: func.func @hidden_grad
// CHECK-NOT: func.func @decl_grad
// ONLY-NOT: func.func @first_grad
// ONLY-LABEL: func.func private @hidden(
// ONLY-LABEL: func.func @hidden_grad(
// ONLY-LABEL: func.func @second(
// ONLY-LABEL: func.func @second_grad(
// ONLY-NOT: func.func @first_grad
// ONLY-NOT: func.func @decl_grad
func.func @first(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
func.func private @hidden(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
func.func @second(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
func.func private @decl(%a: tensor<4xf32>) -> tensor<4xf32>
