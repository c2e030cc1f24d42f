// The double-precision reference backward (MoAReferenceGrad.h) against
// central finite differences of the forward reference: the layer on 25
// configurations, routing, multi_query_attention, the auxiliary losses,
// layer_norm, embedding and cross_entropy, the whole example model
// (examples/tiny_lm.mlir, TinyLMReference.h: the loss against all 16
// parameters), importance_cv_loss (on the gates and through route, with
// padded pairs and E = 1, plus one value by hand), mutual_information_loss
// (with padded tokens, every token padded and E = 1, plus one value by hand),
// plus the exact zeros the contract promises (see ReferenceGradTest.cpp).
// RUN: moa-reference-grad-test | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 85 checks, 0 failed
