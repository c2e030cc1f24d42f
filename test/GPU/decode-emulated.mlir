// The GPU decoding kernels (moa.cache_write, split-KV moa.cached_attention
// and its combine) run by the emulator against a float64 reference: one
// step at the start of a cache, prompts of different lengths in one batch,
// one token deep in a cache that spans several split blocks (the last
// partial), and sequences at different depths, in f32 and bf16; the caches
// are donated (results tied to the arguments) and come back updated.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %S/Inputs/decode-step.mlir --target=cuda --emulate-gpu -o %t/decode.so
// RUN: %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode.so %t 1 1 0 | FileCheck %s
// RUN: %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode.so %t 3 5 0,7,100 | FileCheck %s
// RUN: %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode.so %t 1 1 298 | FileCheck %s
// RUN: %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode.so %t 4 1 5,130,255,299 | FileCheck %s
// An entry named like a C library function (libc's step()) is the module's
// own: its C interface calls it, not libc's (on that case's inputs).
// RUN: sed 's/@decode_step(/@step(/' %S/Inputs/decode-step.mlir > %t/step.mlir
// RUN: moa-compile %t/step.mlir --target=cuda --emulate-gpu -o %t/step.so
// RUN: moa-run %t/step.so step %t/in0.npy %t/in1.npy %t/in2.npy %t/in3.npy %t/in4.npy %t/in5.npy \
// RUN:   | FileCheck %s --check-prefix=STEP
// STEP: result 0: f32 [4, 1, 2, 40]
// The same step on bf16 tensors (f32 softmax and accumulation).
// RUN: sed 's/f32/bf16/g' %S/Inputs/decode-step.mlir > %t/decode-bf16.mlir
// RUN: moa-compile %t/decode-bf16.mlir --target=cuda --emulate-gpu -o %t/decode-bf16.so
// RUN: %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode-bf16.so %t 3 2 0,40,200 bf16 | FileCheck %s
// CHECK: PASS
// A sequence whose new tokens do not fit its cache is an error.
// RUN: not %python %S/Inputs/decode_check.py %moa_tools/moa-run %t/decode.so %t 2 2 0,299 \
// RUN:   | FileCheck %s --check-prefix=OVERFLOW
// OVERFLOW: 'decode_step' failed: {{.*}}cache
