// The GPU kernels of 29 layer configurations (f32, f16 and bf16 on the tensor
// cores; masks, causal, cross-attention, both gate conventions) run on the
// CPU by moa-gpu-emulate, against the double-precision reference at two
// shapes: the kernels' logic, tested without a GPU. f32 within 1e-5, f16/bf16
// within 2e-2; routing indices, permutation and offsets identical. The
// default chip, sm_90a, runs the 16-bit GEMMs on wgmma and TMA; the 8
// configurations with 16-bit operands run again for sm_80 (mma.sync on the
// same 64x64 tiles).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t --emulate-gpu | FileCheck %s
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t 16 --emulate-gpu --compile-arg=--cuda-chip=sm_80 | FileCheck %s --check-prefix=SM80
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
// SM80-NOT: FAIL
// SM80: 8 configurations, 16 runs, 0 failed
