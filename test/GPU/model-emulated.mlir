// Whole models on the emulated GPU against the same models on the CPU, on
// the same random inputs: tiny_lm's loss (embeddings, layer norms, the MoA
// layer, the FFN with bufferization's in-place buffers, cross-entropy and
// the auxiliary losses, the logits) and its decoder's prefill (logits and
// key/value caches).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/cpu.so
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir --target=cuda --emulate-gpu -o %t/gpu.so
// RUN: %python %S/Inputs/model_check.py %moa_tools/moa-run %t/cpu.so %t/gpu.so loss %t 3 29 1e-5 | FileCheck %s --check-prefix=LOSS
// LOSS: PASS loss on the GPU against the CPU
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir --pre-pipeline='moa-generate-decode{max-length=64}' -o %t/gen-cpu.so
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir --pre-pipeline='moa-generate-decode{max-length=64}' --target=cuda --emulate-gpu -o %t/gen-gpu.so
// RUN: %python %S/Inputs/model_check.py %moa_tools/moa-run %t/gen-cpu.so %t/gen-gpu.so loss_prefill %t 3 29 1e-5 | FileCheck %s --check-prefix=PREFILL
// PREFILL: PASS loss_prefill on the GPU against the CPU
// Prefill + 10 decoding steps against the full forward and the float64
// reference (tiny_lm; a 2-layer model in f32 and bf16), and the decoder's
// error paths, with every module compiled for the emulated GPU.
// RUN: mkdir -p %t/decode
// RUN: moa-decode-test %moa_tools/moa-compile %t/decode %moa_src_root/examples/tiny_lm.mlir \
// RUN:   "--compile-flags=--target=cuda --emulate-gpu" | FileCheck %s --check-prefix=DECODE
// DECODE-NOT: FAIL
// DECODE: tiny_lm f32 vs compiled forward: prefill + 10 decode steps
// DECODE: tiny_lm f32 vs f64 reference: prefill + 10 decode steps
// DECODE: loss_prefill rejected: {{.*}}each prompt length must lie in [1, T]
// DECODE: loss_decode rejected: {{.*}}a sequence does not fit its cache
// DECODE: 2-layer f32 vs compiled forward: prefill + 10 decode steps
// DECODE: 2-layer bf16 vs compiled forward: prefill + 10 decode steps
// DECODE: decode: 0 failed
