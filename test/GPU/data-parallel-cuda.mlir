// A data-parallel step compiled for CUDA: its two all-reduces (the routing
// statistics, then the bucket of gradients and losses) are calls of the GPU
// runtime's all-reduce in the device entry, each right after the host has
// waited for the kernels before it (gpu-async-region), and no MPI call is
// left in the module; the manifest still tells the runtime the job's size.
// REQUIRES: cuda-toolkit
// RUN: moa-compile %S/../Lowering/data-parallel-mpi.mlir --target=cuda --emit=mlir -o %t \
// RUN:   --pre-pipeline='moa-generate-train-step,moa-data-parallel{axis-size=2}'
// RUN: FileCheck %s < %t
// RUN: grep -B2 'llvm.call @moa_gpu_all_reduce_sum_f32(' %t | FileCheck %s --check-prefix=WAIT
// CHECK-NOT: llvm.call @MPI_
// CHECK-LABEL: llvm.func @loss_train_step__moa_device(
// CHECK-COUNT-2: llvm.call @moa_gpu_all_reduce_sum_f32(
// CHECK-NOT: llvm.call @moa_gpu_all_reduce_sum_f32(
// CHECK-NOT: llvm.call @MPI_
// CHECK: llvm.mlir.global external constant @moa_manifest("moa-manifest 2\0Aranks 2\0A

// WAIT: llvm.call @mgpuStreamSynchronize
// WAIT-NEXT: llvm.call @mgpuStreamDestroy
// WAIT-NEXT: llvm.call @moa_gpu_all_reduce_sum_f32(
// WAIT-NEXT: --
// WAIT-NEXT: llvm.call @mgpuStreamSynchronize
// WAIT-NEXT: llvm.call @mgpuStreamDestroy
// WAIT-NEXT: llvm.call @moa_gpu_all_reduce_sum_f32(
// WAIT-NOT: all_reduce
