// The GPU kernels of the losses (cross-entropy; router z, mutual
// information, load balancing and its routing statistics, with and without
// a padding mask, on given statistics; importance CV) run by the emulator
// against float64 NumPy; a target or an expert index out of range is the
// CPU path's error.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/losses.mlir --target=cuda --emulate-gpu -o %t/losses.so
// RUN: %python %S/Inputs/losses_check.py %moa_tools/moa-run %t/losses.so %t | FileCheck %s
// CHECK: PASS losses
// RUN: not %python %S/Inputs/losses_check.py %moa_tools/moa-run %t/losses.so %t bad-target \
// RUN:   | FileCheck %s --check-prefix=TARGET
// TARGET: 'losses' failed: a cross-entropy target is outside the vocabulary
// RUN: not %python %S/Inputs/losses_check.py %moa_tools/moa-run %t/losses.so %t bad-index \
// RUN:   | FileCheck %s --check-prefix=INDEX
// INDEX: 'losses' failed: a routing index is outside [-1, E)
