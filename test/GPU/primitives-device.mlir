// The same primitives on a GPU (see primitives-emulated.mlir).
// REQUIRES: cuda-toolkit, cuda-device
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-primitives-test %moa_tools/moa-compile %t --cuda | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: primitives: 0 failures
