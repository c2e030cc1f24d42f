// moa-train on a GPU module keeps the parameters and AdamW moments on the
// device: run against the recording mock (kernels do not run, copies do),
// the state goes over once, and each further step sends only its batch and
// step number and brings back only its loss and the error word. Two runs,
// of 5 and 10 steps, differ by 5 plain steps (--log-every 100: only the
// last step of each is logged).
// REQUIRES: cuda-toolkit
// RUN: rm -rf %t && mkdir -p %t
// RUN: moa-compile %moa_src_root/examples/tiny_lm.mlir -o %t/gpu.so --target=cuda --mock-gpu \
// RUN:   --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
// RUN: moa-run %t/gpu.so --list > %t/list.txt
// RUN: env MOA_MOCK_CUDA_LOG=%t/five.log moa-train %t/gpu.so --task copy --steps 5 --batch 4 \
// RUN:   --length 8 --log-every 100 --eval-batches 0
// RUN: env MOA_MOCK_CUDA_LOG=%t/ten.log moa-train %t/gpu.so --task copy --steps 10 --batch 4 \
// RUN:   --length 8 --log-every 100 --eval-batches 0
// RUN: %python %S/Inputs/transfer_bytes.py %t/list.txt %t/five.log 5 %t/ten.log 10 4 8 | FileCheck %s
// CHECK: per step: H2D 388 bytes (batch 384 + step number 4), D2H 8 bytes (loss 4 + error word 4)
// CHECK: uploaded once: [[STATE:[0-9]+]] bytes (state [[STATE]])
// CHECK: PASS
