// Compiled MoA layers, routing and losses against the double-precision
// reference on 29 configurations, each run at two shapes (see LayerTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-layer-test %moa_tools/moa-compile %t | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: 29 configurations, 58 runs, 0 failed
