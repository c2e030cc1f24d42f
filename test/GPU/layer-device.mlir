// On a machine with an NVIDIA GPU: the 29 configurations run on the device
// against the double-precision reference (f32 within 1e-5, f16/bf16 within
// 2e-2; routing identical).
// REQUIRES: cuda-toolkit, cuda-device
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t --cuda | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
