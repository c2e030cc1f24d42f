// f32 -> bf16 on the CPU rounds to nearest, ties to even, and makes every
// NaN the quiet 0x7fc0 (moa-spec.md's rounding points), in the vectorised
// loop body and in its scalar tail alike, against exact rational rounding.
// RUN: rm -rf %t && mkdir -p %t/out
// RUN: %python %S/narrow_bf16.py make %t/x.npy
// RUN: moa-compile %S/Inputs/narrow_bf16.mlir -o %t/narrow.so
// RUN: moa-run %t/narrow.so narrow %t/x.npy -o %t/out > /dev/null
// RUN: %python %S/narrow_bf16.py check %t/x.npy %t/out/out0.npy | FileCheck %s
// CHECK: 4109 values, 24 special cases: 0 rounded wrongly
