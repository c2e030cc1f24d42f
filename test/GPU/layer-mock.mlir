// The same 29 configurations compiled for the GPU through ptxas (sm_90a), the
// host code of each run at two shapes against the recording mock.
// REQUIRES: cuda-toolkit
// RUN: rm -rf %t && mkdir -p %t
// RUN: env MOA_MOCK_CUDA_LOG=/dev/null moa-layer-test %moa_tools/moa-compile %t --mock-gpu | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
