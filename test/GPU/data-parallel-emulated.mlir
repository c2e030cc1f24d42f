// Data-parallel training on the GPU path (moa-data-parallel, then
// --target=cuda): tiny_lm's step run by the emulator on 2 MPI ranks at
// global batch 8 (4 rows per rank) against one emulated process at batch 8,
// 10 steps with the load-balancing loss on. The gradient bucket and the
// routing statistics are device buffers, summed by the GPU runtime's
// all-reduce (moa-convert-mpi-to-gpu-runtime; MPI on the emulator's host
// memory, NCCL on CUDA: nccl-fake.mlir).
// REQUIRES: mpi
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/one.so --target=cuda --emulate-gpu \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/two.so --target=cuda --emulate-gpu \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50},moa-data-parallel{axis-size=2}'
// RUN: env OMP_NUM_THREADS=1 moa-train %t/one.so --task copy --steps 10 --batch 8 --length 8 \
// RUN:   --seed 3 --log-every 1 --eval-batches 0 --checkpoint %t/one.safetensors > %t/one.log
// RUN: env OMP_NUM_THREADS=1 %mpirun -np 2 moa-train %t/two.so --task copy --steps 10 --batch 8 \
// RUN:   --length 8 --seed 3 --log-every 1 --eval-batches 0 --checkpoint %t/two.safetensors > %t/two.log
// RUN: %python %S/../Training/Inputs/compare_runs.py %t/one.safetensors %t/two.safetensors 10 1e-5 1e-5 \
// RUN:   | FileCheck %s
// CHECK: history.loss: first 10 steps
// CHECK: history.aux: first 10 steps
// CHECK: 16 parameters after step 10
// CHECK: PASS
