// Prefill + decode (moa-generate-decode) against the full forward pass and
// the double-precision reference, and its error paths (see DecodeTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-decode-test %moa_tools/moa-compile %t %moa_src_root/examples/tiny_lm.mlir | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: tiny_lm f32 vs compiled forward: prefill + 10 decode steps
// CHECK: tiny_lm f32 vs f64 reference: prefill + 10 decode steps
// CHECK: loss_prefill rejected: {{.*}}each prompt length must lie in [1, T]
// CHECK: loss_prefill rejected: {{.*}}each prompt length must lie in [1, T]
// CHECK: loss_decode rejected: {{.*}}moa.cache_write: a sequence does not fit its cache
// CHECK: loss_decode rejected: {{.*}}moa.cache_write: a sequence does not fit its cache
// CHECK: loss_decode rejected: argument 18 of 'loss_decode' must have shape [?, 40, 16], got [3, 41, 16]
// CHECK: runDonating rejected: argument 19 of 'loss_decode' is donated twice (one tensor for two cache arguments)
// CHECK: 2-layer f32 vs compiled forward: prefill + 10 decode steps
// CHECK: 2-layer bf16 vs compiled forward: prefill + 10 decode steps
// CHECK: decode: 0 failed
