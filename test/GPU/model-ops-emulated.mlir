// The GPU kernels of the model ops (moa.embedding, moa.layer_norm) run by
// the emulator against float64 loops; an id outside the table is the CPU
// path's error.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/embed-norm.mlir --target=cuda --emulate-gpu -o %t/embed-norm.so
// RUN: %python %S/Inputs/embed_norm_check.py %moa_tools/moa-run %t/embed-norm.so %t | FileCheck %s
// CHECK: PASS embedding + layer_norm
// RUN: not %python %S/Inputs/embed_norm_check.py %moa_tools/moa-run %t/embed-norm.so %t bad \
// RUN:   | FileCheck %s --check-prefix=BAD
// BAD: 'embed_norm' failed: {{.*}}index
