// Without a CUDA driver, GPU modules load and a call fails with a message.
// REQUIRES: cuda-toolkit
// UNSUPPORTED: cuda-device
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda -o %t.so
// RUN: not moa-run %t.so scale --random --dims 300 2>&1 | FileCheck %s

// CHECK: moa-run: 'scale' failed: no GPU is available: the CUDA driver (libcuda.so.1) cannot be loaded
