// The f64 gradient checks of test/Integration/gradients.mlir on modules
// compiled for the GPU and run by the emulator: every loss, routing and
// model-op gradient (primitives), and the layer gradients (with finite
// differences) of the configurations with key padding and fully masked
// rows, causal masks, cross-attention, both gate conventions and k = E.
// (The whole set takes the emulator ~40 minutes; these cover each kind.)
// RUN: rm -rf %t && mkdir -p %t/p %t/m %t/t %t/c
// RUN: moa-gradient-test %moa_tools/moa-compile %t/p primitives \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=PRIM
// PRIM-NOT: FAIL
// PRIM: {{^}}87 checks, 0 failed{{$}}
// RUN: moa-gradient-test %moa_tools/moa-compile %t/m fully-masked \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=LAYER
// RUN: moa-gradient-test %moa_tools/moa-compile %t/t topk-softmax \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=LAYER
// RUN: moa-gradient-test %moa_tools/moa-compile %t/c cross-causal \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=LAYER
// LAYER-NOT: FAIL
// LAYER: PASS layer gradients
// LAYER: {{^}}{{[1-9][0-9]*}} checks, 0 failed{{$}}
