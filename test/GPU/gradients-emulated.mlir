// The f64 gradient checks of test/Integration/gradients.mlir on modules
// compiled for the GPU and run by the emulator: every loss, routing and
// model-op gradient (primitives), and the layer gradients (with finite
// differences) of the configurations with key padding and fully masked
// rows, causal masks, cross-attention, both gate conventions and k = E.
// (The whole set takes the emulator ~40 minutes; these cover each kind.)
// And the example model's gradient in f32 and in mixed precision (bf16; its
// reference also rounds the tensor-core attention's probabilities).
// RUN: rm -rf %t && mkdir -p %t/p %t/m %t/t %t/c %t/lm
// RUN: moa-gradient-test %moa_tools/moa-compile %t/lm tiny_lm --tiny-lm=%moa_src_root/examples/tiny_lm.mlir \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=TINY
// TINY-NOT: FAIL
// TINY: {{^}}PASS tiny_lm bf16 (B=4 T=64) gradients:
// TINY: {{^}}8 checks, 0 failed{{$}}
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
