// The runtime's GEMM (runtime/Gemm.cpp), libxsmm's kernels and the OpenBLAS
// fallback, against double loops in every transpose, alpha and beta case,
// with padded leading dimensions and blocked B (test/Runtime/GemmTest.cpp).
// 10 shapes x 4 transposes x 2 alphas x 3 betas x 2 backends x (with and
// without another B named as the next to prefetch) = 960 cases; B of at most
// 16 columns (3 shapes) takes the dot-product path in NN.
// RUN: moa-gemm-test | FileCheck %s
// CHECK: gemm: 960 of 960 cases within the f32 error bound
// bf16Gemm, in both modes (AVX512-BF16 kernels where the CPU has them, else
// libxsmm's emulation or f32), 6 shapes x 2 betas x 2 modes x the weight
// packed as it is or from its transpose.
// CHECK: bf16 gemm: 48 of 48 cases within the f32 error bound
// A scaled, transposed B of 256 MB under an address-space limit that leaves
// no room for a copy of it: computed block by block all the same.
// RUN: moa-gemm-test --no-memory-for-scratch | FileCheck %s --check-prefix=NOMEM
// NOMEM: no memory for the scratch: error {{.*}} of the bound
// MOA_GEMM_PROFILE=1: every call counted per shape and transposes (BF:
// bf16Gemm, 8 calls per shape); the total
// is the cases' 2 m n k summed (96 calls of each of the 10 shapes).
// RUN: env MOA_GEMM_PROFILE=1 moa-gemm-test 2>&1 | FileCheck %s --check-prefix=PROFILE
// PROFILE: calls m n k op GFLOP ms GFLOP/s
// PROFILE-DAG: {{^}} 24 64 1024 1024 NN 3.221 
// PROFILE-DAG: {{^}} 24 33 600 300 TT 0.285 
// PROFILE-DAG: {{^}} 8 64 1024 1024 BF 1.074 
// PROFILE-DAG: {{^}} 24 128 8 512 NN 0.025 
// PROFILE: all GEMMs: 17.004 GFLOP in
