// The GPU kernels of 29 layer configurations (f32, f16 and bf16 on the tensor
// cores; masks, causal, cross-attention, both gate conventions) run on the
// CPU by moa-gpu-emulate, against the double-precision reference at two
// shapes: the kernels' logic, tested without a GPU. f32 within 1e-5, f16/bf16
// within 2e-2; routing indices, permutation and offsets identical.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t --emulate-gpu | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
