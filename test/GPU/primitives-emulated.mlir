// The grouped-matmul kernels in all four modes (rows per token or per pair;
// scatter or gate-weighted combine; experts spanning several row tiles, some
// pairs undispatched) and the attention kernel (causal, key padding with a
// batch whose keys are all padding, explicit scale, T != S, up to 600 keys)
// on the GPU emulator against the double-precision reference, f32 within
// 1e-5 (see test/Integration/PrimitivesTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-primitives-test %moa_tools/moa-compile %t --emulate-gpu | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: primitives: 0 failures
