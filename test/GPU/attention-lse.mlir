// The attention forward's row log-sum-exp (`with_lse`, which the backward
// reads) on the CPU and through both GPU kernels on the emulator (f32: the
// CUDA-core kernel; bf16: the tensor-core kernel, two key tiles), causal with
// a key padding mask, against float64; rows that see no key give -inf.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/attention-lse.mlir -o %t/cpu.so
// RUN: moa-compile %S/Inputs/attention-lse.mlir --target=cuda --emulate-gpu -o %t/gpu.so
// RUN: %python %S/Inputs/lse_check.py %moa_tools/moa-run %t/cpu.so %t | FileCheck %s
// RUN: %python %S/Inputs/lse_check.py %moa_tools/moa-run %t/gpu.so %t | FileCheck %s
// CHECK: PASS f32: max |lse - float64| {{.*}}, 20 rows with no key -inf
// CHECK: PASS bf16: max |lse - float64| {{.*}}, 20 rows with no key -inf
