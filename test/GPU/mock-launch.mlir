// The CUDA path up to the launch, on a machine without a GPU: a gpu dialect
// kernel is compiled by ptxas for sm_90a and sm_80, the host code runs
// against the recording mock of the mgpu* ABI, and the launch sequence is
// checked. With the real runtime and no driver, the call fails with a message.
// REQUIRES: cuda-toolkit
// RUN: rm -f %t.log
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda --mock-gpu -o %t.so
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda --cuda-chip=sm_80 --mock-gpu -o %t.sm80.so
// RUN: env MOA_MOCK_CUDA_LOG=%t.log moa-run %t.so scale --random --dims 300
// RUN: FileCheck %s < %t.log
// RUN: not moa-compile %moa_src_root/examples/moa_layer.mlir --target=cuda -o %t.layer.so 2>&1 | FileCheck %s --check-prefix=MOA

// CHECK: module-load {{[0-9]+}} bytes
// CHECK-NEXT: stream-create
// CHECK-NEXT: alloc 1200 bytes
// CHECK-NEXT: memcpy 1200 bytes
// CHECK-NEXT: get-function scale
// CHECK-NEXT: launch scale grid=(3,1,1) block=(128,1,1) smem=0 params=7
// CHECK-NEXT: memcpy 1200 bytes
// CHECK-NEXT: free
// CHECK-NEXT: stream-synchronize

// MOA: error: moa ops have no GPU lowering yet: compile this module with --target=cpu
