// tiny_lm's training step (forward, every backward op, global norm, AdamW)
// compiled for the GPU and run by the emulator trains the copy task to the
// end (300 steps) as the CPU module does: the recorded losses of every step
// and the 16 parameters after step 300 within 1e-4 relative of the CPU's
// (same seed and data; small batches: the emulator is ~0.75 s a step, so
// this test takes about 4 minutes), and the same held-out accuracy, at
// least 95%.
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/cpu.so \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/gpu.so --target=cuda --emulate-gpu \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-train %t/cpu.so --task copy --steps 300 --batch 4 --length 8 --seed 3 --log-every 1 \
// RUN:   --eval-batches 8 --checkpoint %t/cpu.safetensors > %t/cpu.log
// RUN: moa-train %t/gpu.so --task copy --steps 300 --batch 4 --length 8 --seed 3 --log-every 1 \
// RUN:   --eval-batches 8 --checkpoint %t/gpu.safetensors > %t/gpu.log
// RUN: %python %S/../Training/Inputs/compare_runs.py %t/cpu.safetensors %t/gpu.safetensors 300 1e-4 1e-4 \
// RUN:   | FileCheck %s
// CHECK: history.loss: first 300 steps
// CHECK: 16 parameters after step 300
// CHECK: PASS
// The same held-out evaluation as on the CPU.
// RUN: grep 'held-out' %t/cpu.log > %t/cpu-eval.txt
// RUN: grep 'held-out' %t/gpu.log > %t/gpu-eval.txt
// RUN: diff %t/cpu-eval.txt %t/gpu-eval.txt
// RUN: FileCheck %s --check-prefix=EVAL < %t/gpu-eval.txt
// EVAL: held-out accuracy {{0\.9[5-9][0-9]*|1\.0+}} on 8 batches
