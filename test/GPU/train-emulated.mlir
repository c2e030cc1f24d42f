// tiny_lm's training step (forward, every backward op, global norm, AdamW)
// compiled for the GPU and run by the emulator trains 20 steps of the copy
// task as the CPU module does: the recorded losses of every step and the
// 16 parameters after step 20 within 1e-4 relative of the CPU's (same
// seed and data; small batches: the emulator is ~0.8 s a step).
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/cpu.so \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/gpu.so --target=cuda --emulate-gpu \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-train %t/cpu.so --task copy --steps 20 --batch 4 --length 8 --seed 3 --log-every 1 \
// RUN:   --eval-batches 2 --checkpoint %t/cpu.safetensors > %t/cpu.log
// RUN: moa-train %t/gpu.so --task copy --steps 20 --batch 4 --length 8 --seed 3 --log-every 1 \
// RUN:   --eval-batches 2 --checkpoint %t/gpu.safetensors > %t/gpu.log
// RUN: %python %S/../Training/Inputs/compare_runs.py %t/cpu.safetensors %t/gpu.safetensors 20 1e-4 1e-4 \
// RUN:   | FileCheck %s
// CHECK: history.loss: first 20 steps
// CHECK: 16 parameters after step 20
// CHECK: PASS
// The same held-out evaluation as on the CPU.
// RUN: grep 'held-out' %t/cpu.log > %t/cpu-eval.txt
// RUN: grep 'held-out' %t/gpu.log > %t/gpu-eval.txt
// RUN: diff %t/cpu-eval.txt %t/gpu-eval.txt
