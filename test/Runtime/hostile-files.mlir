// Input files that only look valid and output paths that cannot be written:
// a clear message and a non-zero exit, nothing crashes, nothing is computed
// before the output directory is known to exist, and nothing that is not a
// regular file is replaced. The .npy header is read by a strict parser
// (runtime/Npy.cpp): a long header that is valid still reads.
// RUN: rm -rf %t && mkdir -p %t %t/out
// RUN: python3 %S/make_npy.py %t
// RUN: moa-compile %S/Inputs/entries.mlir -o %t/entries.so
// RUN: moa-run %t/entries.so identity %t/long_header.npy -o %t/out | FileCheck %s --check-prefix=LONG
// RUN: not moa-run %t/entries.so identity %t/shape_negative.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/entries.so identity %t/shape_float.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/entries.so identity %t/shape_suffix.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/entries.so identity %t/shape_long.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/entries.so identity %t/shape_gap.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not moa-run %t/entries.so identity %t/duplicate_key.npy 2>&1 | FileCheck %s --check-prefix=DUPLICATE
// RUN: not moa-run %t/entries.so identity %t/unknown_key.npy 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// LONG: input 0: f32 [4]
// SHAPE: moa-run: '{{.*}}.npy' is not a valid .npy file: the header's 'shape' holds something other than non-negative integers
// DUPLICATE: moa-run: '{{.*}}duplicate_key.npy' is not a valid .npy file: repeated 'shape' in the header
// UNKNOWN: moa-run: '{{.*}}unknown_key.npy' is not a valid .npy file: unknown key 'order' in the header

// A module compiled by an older moa (its manifest's version is older) is
// refused before anything is called, with what to do about it.
// RUN: printf 'const char moa_manifest[] = "moa-manifest 1\\nentry f 0 0\\n";\n' > %t/old.c
// RUN: cc -shared -fPIC %t/old.c -o %t/old.so
// RUN: not moa-run %t/old.so f 2>&1 | FileCheck %s --check-prefix=OLD
// OLD: moa-run: {{.*}}old.so': compiled by an older moa (manifest version 1, this runtime's is 2, whose calls from generated code differ): compile it again

// Output directories: empty, missing, a file; checked before running.
// RUN: not moa-run %t/entries.so identity %t/v4.npy -o '' 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not moa-run %t/entries.so identity %t/v4.npy -o %t/missing 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moa-run %t/entries.so identity %t/v4.npy -o %t/v4.npy 2>&1 | FileCheck %s --check-prefix=NOTDIR
// EMPTY: moa-run: -o needs a directory
// MISSING: moa-run: output directory '{{.*}}missing': No such file or directory
// MISSING-NOT: result 0
// NOTDIR: moa-run: output directory '{{.*}}v4.npy' is not a directory

// A result whose name is taken by a directory is refused; one whose name is
// a symbolic link is written where the link points, and the link stays.
// RUN: rm -rf %t/dir && mkdir -p %t/dir/out0.npy
// RUN: not moa-run %t/entries.so identity %t/v4.npy -o %t/dir 2>&1 | FileCheck %s --check-prefix=ONTODIR
// RUN: rm -rf %t/link && mkdir -p %t/link && ln -s ../long_header.npy %t/link/out0.npy
// RUN: cp %t/long_header.npy %t/long_header.orig
// RUN: moa-run %t/entries.so identity %t/v4.npy -o %t/link
// RUN: test -L %t/link/out0.npy
// RUN: cmp %t/v4.npy %t/long_header.npy
// RUN: not cmp %t/v4.npy %t/long_header.orig
// ONTODIR: moa-run: cannot write '{{.*}}dir/out0.npy': it exists and is not a regular file

// An AdamW step count of 0 or NaN would make every parameter NaN: the call
// fails with a message instead.
// RUN: moa-run %t/entries.so adamw %t/v4.npy %t/v4.npy %t/step_1.npy %t/step_1.npy | FileCheck %s --check-prefix=STEP1
// RUN: not moa-run %t/entries.so adamw %t/v4.npy %t/v4.npy %t/step_0.npy %t/step_1.npy 2>&1 | FileCheck %s --check-prefix=STEP0
// RUN: not moa-run %t/entries.so adamw %t/v4.npy %t/v4.npy %t/step_nan.npy %t/step_1.npy 2>&1 | FileCheck %s --check-prefix=STEP0
// STEP1: result 0: f32 [4]
// STEP0: moa.adamw: the step count must be a number >= 1

// Numbers on the command line: out of range, trailing text, nan.
// RUN: not moa-run %t/entries.so identity %t/v4.npy --repeat 99999999999999999999 2>&1 | FileCheck %s --check-prefix=REPEAT
// RUN: not moa-run %t/entries.so twice --random --dims 2,3x 2>&1 | FileCheck %s --check-prefix=DIMS
// REPEAT: moa-run: --repeat needs a positive integer
// DIMS: moa-run: --dims

// A NaN score among the visible keys makes the row NaN (IEEE), not zeros; a
// NaN key that the mask hides changes nothing.
// RUN: moa-run %t/entries.so attention %t/q_1x2.npy %t/k_nan.npy %t/v_1x3.npy %t/mask_000.npy -o %t/out
// RUN: python3 %S/npy_summary.py %t/out/out0.npy | FileCheck %s --check-prefix=NANKEY
// RUN: moa-run %t/entries.so attention %t/q_1x2.npy %t/k_nan.npy %t/v_1x3.npy %t/mask_010.npy -o %t/out
// RUN: python3 %S/npy_summary.py %t/out/out0.npy | FileCheck %s --check-prefix=HIDDEN
// NANKEY: nan=8 inf=0
// HIDDEN: nan=0 inf=0

// A routing index outside [-1, E) is an error in the load-balancing loss,
// not a padded slot.
// RUN: not moa-run %t/entries.so losses %t/logits_2x3.npy %t/indices_e4.npy 2>&1 | FileCheck %s --check-prefix=EXPERT
// RUN: not moa-run %t/entries.so losses %t/logits_2x3.npy %t/indices_m2.npy 2>&1 | FileCheck %s --check-prefix=EXPERT
// EXPERT: moa-run: 'losses' failed: a routing index is outside [-1, E)

// Too few --dims for an argument says how many it needs.
// RUN: not moa-run %t/entries.so twice --random --dims 2 2>&1 | FileCheck %s --check-prefix=FEWDIMS
// FEWDIMS: moa-run: argument 0 of 'twice' has shape [?, ?, 4]: --dims gives only 1, it needs 2 (its dynamic sizes, in order)

// A buffer the machine cannot hold (4 TB for an outer product of two 10^6
// vectors; an address-space limit, test/lib/limit.py, makes it fail on any
// machine) is an error naming its size, after the earlier buffers of the
// call are freed, not a crash in the generated code.
// RUN: moa-run %t/entries.so outer --random --dims 3 | FileCheck %s --check-prefix=OUTER
// RUN: not %limit_memory moa-run %t/entries.so outer --random --dims 1000000 2>&1 | FileCheck %s --check-prefix=NOMEM
// OUTER: result 0: f32 [3, 3]
// NOMEM: moa-run: 'outer' failed: out of memory: a buffer of {{4000000000[0-9]*}} bytes could not be allocated
