// Compiled grouped matmuls (all four modes) and multi-query attention
// against the double-precision reference (see PrimitivesTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-primitives-test %moa_tools/moa-compile %t | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: primitives: 0 failures
