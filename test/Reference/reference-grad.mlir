// The double-precision reference backward (MoAReferenceGrad.h) against
// central finite differences of the forward reference: the layer on 25
// configurations, routing, multi_query_attention, the auxiliary losses,
// layer_norm, embedding and cross_entropy, the whole example model
// (examples/tiny_lm.mlir, TinyLMReference.h: the loss against all 16
// parameters), plus the exact zeros the contract promises (see
// ReferenceGradTest.cpp).
// RUN: moa-reference-grad-test | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 64 checks, 0 failed
