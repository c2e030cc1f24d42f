// Every CUDA driver entry point runtime/cuda/MgpuCuda.cpp looks up exists,
// under that exact (versioned) name, in the toolkit's libcuda stub: a wrong
// name would only fail on a GPU machine, and the stand-in driver of the other
// tests defines whatever it is told to.
// REQUIRES: cuda-toolkit
// RUN: %python %S/Inputs/driver_symbols.py %moa_src_root/runtime/cuda/MgpuCuda.cpp | FileCheck %s
// CHECK: {{[0-9]+}} driver entry points, all in libcuda
// CHECK-NOT: missing
