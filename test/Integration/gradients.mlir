// The functions moa-generate-gradients adds, compiled for the CPU: layer
// gradients on 14 configurations at two shapes each against the f64
// reference backward, the primitives' gradients, directional finite
// differences of the compiled code, and out-of-vocabulary errors (see
// GradientTest.cpp).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-gradient-test %moa_tools/moa-compile %t | FileCheck %s
// CHECK-NOT: FAIL
// CHECK: {{^}}89 checks, 0 failed{{$}}
