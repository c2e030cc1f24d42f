// The functions moa-generate-gradients adds, compiled for the CPU: layer
// gradients on 14 configurations at two shapes each against the f64
// reference backward, the primitives' gradients (and the compiled
// importance_cv_loss(route(logits)) and mutual_information_loss(logits) with
// their gradients), directional finite differences of the compiled code,
// out-of-vocabulary errors, and the example model examples/tiny_lm.mlir:
// @loss and @loss_grad (all 16 parameters) at two shapes against the f64
// reference model (TinyLMReference.h), and the same in mixed precision
// (mixed-precision=bf16) against the reference of its rounding points; a
// batch split in two halves (the
// routing statistics and the load-balancing loss of moa-data-parallel)
// (see GradientTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-gradient-test %moa_tools/moa-compile %t \
// RUN:   --tiny-lm=%moa_src_root/examples/tiny_lm.mlir | FileCheck %s
// CHECK-NOT: FAIL
// CHECK-NOT: tiny_lm not checked
// CHECK: {{^}}PASS tiny_lm (B=4 T=64) gradients:
// CHECK: {{^}}PASS tiny_lm bf16 (B=4 T=64) gradients:
// CHECK: {{^}}143 checks, 0 failed{{$}}
