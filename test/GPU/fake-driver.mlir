// The CUDA host runtime against a stand-in driver (FakeDriver/): the kernel
// "runs" (the stand-in scales the buffer on the CPU), the stream is created
// non-blocking, and a driver that has no device or cannot load the binary
// makes the call fail with the CUDA error name instead of returning garbage.
// REQUIRES: cuda-toolkit
// UNSUPPORTED: cuda-device
// RUN: rm -rf %t && mkdir -p %t
// RUN: python3 %S/Inputs/npy.py write %t/x.npy 300
// RUN: moa-compile %S/Inputs/scale.mlir --target=cuda -o %t/scale.so
// RUN: env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver FAKE_CUDA_LOG=%t/log moa-run %t/scale.so scale %t/x.npy -o %t
// RUN: python3 %S/Inputs/npy.py check-double %t/x.npy %t/out0.npy | FileCheck %s --check-prefix=DOUBLED
// MOA_CUDA_TIMING: the span of the kernels of each call, from CUDA events.
// RUN: env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver MOA_CUDA_TIMING=%t/timing moa-run %t/scale.so scale %t/x.npy --repeat 3
// RUN: FileCheck %s --check-prefix=TIMING < %t/timing
// RUN: FileCheck %s --check-prefix=LOG < %t/log
// RUN: not env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver FAKE_CUDA_INIT_ERROR=100 moa-run %t/scale.so scale %t/x.npy 2>&1 | FileCheck %s --check-prefix=NODEVICE
// RUN: not env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver FAKE_CUDA_LOAD_ERROR=209 moa-run %t/scale.so scale %t/x.npy 2>&1 | FileCheck %s --check-prefix=NOBINARY

// DOUBLED: 300 elements doubled
// TIMING-COUNT-4: kernels 1.500000
// TIMING-NOT: kernels
// LOG: cuStreamCreate flags 1
// LOG: cuLaunchKernel block.x 128
// NODEVICE: moa-run: 'scale' failed: no usable GPU: cuInit failed: CUDA_ERROR_NO_DEVICE
// NOBINARY: moa-run: 'scale' failed: the GPU module is not loaded: cuModuleLoadData failed: CUDA_ERROR_NO_BINARY_FOR_GPU
