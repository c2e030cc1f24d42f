// The sm_90a attention kernel (S = Q K^T and O += P V on wgmma, Q, K, V and
// P in swizzled shared memory) on the GPU emulator against float64, with
// the sm_80 kernel (mma.sync) on the same inputs: bf16 at h = 128 (two
// 64-wide tiles per operand), causal with key padding, three key tiles;
// f16 at h = 64, cross-attention with k = 3 (see
// Inputs/attention_wgmma_check.py). Declaring K the N-major B for S
// (o off by 1.2, log-sum-exp by 2.6) or storing P unswizzled (o off by 1.9)
// fails it. These grids are small, so by default the sm_90a blocks take 64
// rows and their two consumers split the keys (joined at the end);
// attention-split-below=0 keeps blocks of 128 rows, a consumer each 64.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/attention-wgmma.mlir --target=cuda --emulate-gpu -o %t/sm90.so
// RUN: moa-compile %S/Inputs/attention-wgmma.mlir --target=cuda --emulate-gpu --gpu-tiling=attention-split-below=0 -o %t/sm90wide.so
// RUN: moa-compile %S/Inputs/attention-wgmma.mlir --target=cuda --emulate-gpu --cuda-chip=sm_80 -o %t/sm80.so
// RUN: %python %S/Inputs/attention_wgmma_check.py %moa_tools/moa-run %t/sm90.so %t | FileCheck %s
// RUN: %python %S/Inputs/attention_wgmma_check.py %moa_tools/moa-run %t/sm90wide.so %t | FileCheck %s
// RUN: %python %S/Inputs/attention_wgmma_check.py %moa_tools/moa-run %t/sm80.so %t | FileCheck %s
// CHECK: PASS bf16_h128: {{.*}} 20 rows with no key zero and -inf
// CHECK: PASS f16_h64: {{.*}} 0 rows with no key
