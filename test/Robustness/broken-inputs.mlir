// Broken and mutated inputs get a located diagnostic and a non-zero exit,
// never a crash (see check_broken_inputs.py).
// RUN: python3 %S/check_broken_inputs.py moa-opt %S/Inputs %moa_src_root/examples/moa_layer.mlir %S/../Passes/decompose.mlir %S/../Dialect/ops.mlir %S/../Lowering/lower-to-loops.mlir %S/../Runtime/Inputs/entries.mlir %moa_src_root/examples/tiny_lm.mlir | FileCheck %s
// CHECK: inputs, 0 failures
