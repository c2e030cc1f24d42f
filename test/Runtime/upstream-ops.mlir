// Upstream constructs in a model: linalg.softmax (decomposed by
// moa-decompose) and a tensor carried through scf.for compile and compute
// what plain double-precision loops do; a nested module is a located error.
// RUN: rm -rf %t && mkdir -p %t/softmax %t/loop
// RUN: %python %S/upstream_check.py make %t/x.npy
// RUN: moa-compile %S/Inputs/softmax.mlir -o %t/softmax.so
// RUN: moa-run %t/softmax.so f %t/x.npy -o %t/softmax > /dev/null
// RUN: %python %S/upstream_check.py softmax %t/x.npy %t/softmax/out0.npy | FileCheck %s --check-prefix=SOFTMAX
// RUN: moa-compile %S/Inputs/loop_carried.mlir -o %t/loop.so
// RUN: moa-run %t/loop.so f %t/x.npy -o %t/loop > /dev/null
// RUN: %python %S/upstream_check.py times8 %t/x.npy %t/loop/out0.npy | FileCheck %s --check-prefix=LOOP
// RUN: not moa-compile %S/Inputs/nested_module.mlir -o %t/nested.so 2>&1 | FileCheck %s --check-prefix=NESTED
// SOFTMAX: softmax max rel err {{.*}} ok
// LOOP: times8 max rel err {{.*}} ok
// NESTED: nested_module.mlir:3:3: error: nested modules are not supported: moa compiles the functions of the top-level module; move them there
