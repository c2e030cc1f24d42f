// The runtime's GEMM (runtime/Gemm.cpp), libxsmm's kernels and the OpenBLAS
// fallback, against double loops in every transpose, alpha and beta case,
// with padded leading dimensions and blocked B (test/Runtime/GemmTest.cpp).
// 7 shapes x 4 transposes x 2 alphas x 3 betas x 2 backends = 336 cases.
// RUN: moa-gemm-test | FileCheck %s
// CHECK: gemm: 336 of 336 cases within the f32 error bound
// A scaled, transposed B of 256 MB under an address-space limit that leaves
// no room for a copy of it: computed block by block all the same.
// RUN: moa-gemm-test --no-memory-for-scratch | FileCheck %s --check-prefix=NOMEM
// NOMEM: no memory for the scratch: error {{.*}} of the bound
