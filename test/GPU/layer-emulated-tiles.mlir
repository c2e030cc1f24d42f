// The same 29 layer configurations on the GPU emulator with a second set of
// tile sizes (moa-lower-to-gpu's options through moa-compile --gpu-tiling):
// 32x64 GEMM tiles on 2 warps staging 16 of k at a time, and tensor-core
// attention over tiles of 32 keys (for h = 48 not a whole number of copy
// rounds per tile). The kernels read every tile size from the options, so
// both sets must match the double-precision reference as closely.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t --emulate-gpu "--compile-arg=--gpu-tiling=gemm-rows=32 gemm-cols=64 gemm-depth=16 attention-keys=32" | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
