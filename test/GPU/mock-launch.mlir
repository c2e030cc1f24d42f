// The CUDA path up to the launch, on a machine without a GPU: a gpu dialect
// kernel is compiled by ptxas for sm_90a and sm_80, the host code runs
// against the recording mock of the mgpu* ABI, and the launch sequence is
// checked: the host entry copies the argument to the device and calls the
// device entry, which runs its kernel on one stream with no host
// synchronisation before its result is ready.
// REQUIRES: cuda-toolkit
// RUN: rm -f %t.log
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda --mock-gpu -o %t.so
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda --cuda-chip=sm_80 --mock-gpu -o %t.sm80.so
// RUN: env MOA_MOCK_CUDA_LOG=%t.log moa-run %t.so scale --random --dims 300
// RUN: FileCheck %s < %t.log

// CHECK: module-load {{[0-9]+}} bytes
// CHECK-NEXT: stream-create
// CHECK-NEXT: alloc 1200 bytes
// CHECK-NEXT: memcpy H2D 1200 bytes
// CHECK-NEXT: stream-synchronize
// CHECK-NEXT: stream-destroy
// CHECK-NEXT: stream-create
// CHECK-NEXT: alloc 1200 bytes
// CHECK-NEXT: memcpy D2D 1200 bytes
// CHECK-NEXT: get-function scale
// CHECK-NEXT: launch scale grid=(3,1,1) block=(128,1,1) smem=0 params=7
// CHECK-NEXT: stream-synchronize
// CHECK: memcpy D2H 1200 bytes
// CHECK-NEXT: free
// CHECK-NEXT: free
// CHECK-NEXT: stream-synchronize
