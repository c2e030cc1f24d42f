// The mgpu* entry points beyond the launches (cluster launches, host
// registration, TMA descriptors), called directly: under the stand-in driver
// the launch configuration and the memref descriptor (rows 1..5 of a 6x8 f32
// matrix) reach the driver in its terms (dimensions innermost first, strides
// in bytes), the same map asked for again is the device copy made the first
// time (one encoding) and another box another; past 1024 maps the runtime
// waits for the context's work and frees their device copies (one
// cuCtxSynchronize in 1200 more maps); the mock records them.
// UNSUPPORTED: cuda-device
// RUN: rm -f %t.log %t.mock
// RUN: env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver FAKE_CUDA_LOG=%t.log moa-mgpu-abi-test | FileCheck %s --check-prefixes=MADE,KEPT
// RUN: FileCheck %s --check-prefix=DRIVER < %t.log
// RUN: env MOA_MOCK_CUDA_LOG=%t.mock moa-mgpu-abi-mock-test | FileCheck %s --check-prefix=MADE
// RUN: FileCheck %s --check-prefix=MOCK < %t.mock

// KEPT: tensor map again: same, another: new
// MADE: tensor map made
// DRIVER: cuLaunchKernelEx grid 8 3 1 block 128 1 1 smem 1024 cluster 2 1 1
// DRIVER-NEXT: cuMemHostRegister bytes 160
// DRIVER-NEXT: cuTensorMapEncodeTiled type 7 rank 2 dim 8 box 4 dim 5 box 2 stride 32 swizzle 3
// DRIVER-NEXT: cuTensorMapEncodeTiled type 7 rank 2 dim 8 box 4 dim 5 box 1 stride 32 swizzle 3
// DRIVER-NEXT: cuMemHostUnregister
// DRIVER-COUNT-1022: cuTensorMapEncodeTiled type 7 rank 2
// DRIVER-NEXT: cuCtxSynchronize
// DRIVER-COUNT-176: cuTensorMapEncodeTiled type 7 rank 2
// DRIVER-NOT: cuCtxSynchronize
// MOCK: launch kernel cluster=(2,1,1) grid=(8,3,1) block=(128,1,1) smem=1024
// MOCK-NEXT: host-register rank 2, 4-byte elements
// MOCK-COUNT-3: tensor-map rank 2 type 7 swizzle 3
// MOCK-NEXT: host-unregister rank 2
