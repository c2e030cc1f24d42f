// Data-parallel training over 2 MPI ranks (moa-data-parallel): the example
// model with its load-balancing loss, global batch 16 (8 rows per rank),
// against one process at batch 16, 50 steps, one thread per process.
// REQUIRES: mpi
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/one.so \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/two.so \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50},moa-data-parallel{axis-size=2}'
// RUN: env OMP_NUM_THREADS=1 moa-train %t/one.so --steps 50 --batch 16 \
// RUN:   --log-every 1 --eval-batches 0 --checkpoint %t/one.safetensors > %t/one.log
// RUN: env OMP_NUM_THREADS=1 %mpirun -np 2 moa-train %t/two.so --steps 50 \
// RUN:   --batch 16 --log-every 1 --eval-batches 0 --checkpoint %t/two.safetensors \
// RUN:   > %t/two.log
// RUN: FileCheck %s --check-prefix=LOG < %t/two.log
// RUN: %python %S/Inputs/compare_runs.py %t/one.safetensors %t/two.safetensors 10 1e-5 1e-5 \
// RUN:   | FileCheck %s --check-prefix=SAME

// Rank 0 alone reports: one progress line per step, one summary.
// LOG-COUNT-50: step {{[0-9]+}}/50 | loss
// LOG-NOT: step
// LOG: trained steps 1..50
// LOG-NOT: trained steps

// The losses of every step (the load-balancing loss of the global batch
// included) and the parameters after 50 steps agree within 1e-5 relative
// (measured: 1.1e-7 and 3.1e-7; the ranks sum their halves' gradients in
// another order than one process does).
// SAME: history.loss: first 10 steps
// SAME: history.aux: first 10 steps
// SAME: 16 parameters after step 50
// SAME: PASS

// A global batch that does not split over the ranks, and a 2-rank module
// run as one process, are errors.
// RUN: env OMP_NUM_THREADS=1 not %mpirun -np 2 moa-train %t/two.so --steps 2 \
// RUN:   --batch 15 2>&1 | FileCheck %s --check-prefix=SPLIT
// SPLIT: moa-train: --batch 15 does not split evenly over the 2 ranks of the job
// RUN: not moa-train %t/two.so --steps 2 2>&1 | FileCheck %s --check-prefix=ALONE
// ALONE: moa-train: module '{{.*}}two.so' is data parallel over 2 ranks, but this job has 1 process: run it with mpirun -np 2 (or compile it with moa-data-parallel{axis-size=1})

// Killing one rank ends the job within seconds, and the last checkpoint is
// whole: one process resumes from it (a checkpoint resumes with any number
// of ranks).
// RUN: %S/Inputs/kill_rank.sh "%mpirun" %moa_tools/moa-train %t/two.so %t/one.so %t \
// RUN:   | FileCheck %s --check-prefix=KILL
// KILL: rank 1 killed: the job ended with status {{[1-9][0-9]*}} after {{[0-9]\.[0-9]+}} s
// KILL: last checkpoint at step [[#STEP:]]
// KILL: trained steps [[#STEP+1]]..[[#STEP+5]] in
