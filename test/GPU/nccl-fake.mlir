// A data-parallel GPU module's all-reduce through the CUDA host runtime's
// NCCL path (runtime/cuda/Nccl.cpp), against stand-ins for the driver and
// NCCL (FakeDriver/: host memory, the sum over MPI): 2 ranks each pass
// their own vector and both get the sum; rank 0 alone makes the NCCL id and
// every rank initialises its communicator with it; the all-reduce is f32,
// sum, on the thread's stream; each rank takes the GPU of its local rank.
// REQUIRES: cuda-toolkit, mpi
// UNSUPPORTED: cuda-device
// RUN: rm -rf %t && mkdir -p %t/out0 %t/out1
// RUN: moa-compile %S/Inputs/all_reduce.mlir --target=cuda -o %t/sum.so
// RUN: %python %S/Inputs/npy.py write %t/x0.npy 300
// RUN: %python %S/Inputs/npy.py write %t/x1.npy 300 -3.25
// RUN: env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver:%moa_obj_root/test/GPU/FakeDriver/nccl \
// RUN:   FAKE_NCCL_LOG=%t/nccl FAKE_CUDA_LOG=%t/cuda FAKE_CUDA_DEVICES=2 \
// RUN:   %mpirun -np 2 sh -c 'exec moa-run %t/sum.so sum %t/x$OMPI_COMM_WORLD_RANK.npy -o %t/out$OMPI_COMM_WORLD_RANK'
// RUN: %python %S/Inputs/npy.py check-sum %t/x0.npy %t/x1.npy %t/out0/out0.npy | FileCheck %s --check-prefix=SUM
// RUN: %python %S/Inputs/npy.py check-sum %t/x0.npy %t/x1.npy %t/out1/out0.npy | FileCheck %s --check-prefix=SUM
// RUN: FileCheck %s --check-prefix=RANK0 < %t/nccl.0
// RUN: FileCheck %s --check-prefix=RANK1 < %t/nccl.1
// RUN: FileCheck %s --check-prefix=DEVICES < %t/cuda

// SUM: 300 elements summed

// RANK0: ncclGetUniqueId
// RANK0-NEXT: ncclCommInitRank nranks 2 rank 0
// RANK0-NEXT: id: rank 0's
// RANK0-NEXT: ncclAllReduce count 300 datatype 7
// RANK0-NEXT: op 0 stream 1

// RANK1-NOT: ncclGetUniqueId
// RANK1: ncclCommInitRank nranks 2 rank 1
// RANK1-NEXT: id: rank 0's
// RANK1-NEXT: ncclAllReduce count 300 datatype 7
// RANK1-NEXT: op 0 stream 1

// DEVICES-DAG: cuDeviceGet ordinal 0
// DEVICES-DAG: cuDeviceGet ordinal 1

// A failing all-reduce and a missing NCCL fail the call with NCCL's words.
// RUN: not env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver:%moa_obj_root/test/GPU/FakeDriver/nccl \
// RUN:   FAKE_NCCL_ERROR=2 %mpirun -np 2 moa-run %t/sum.so sum %t/x0.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=FAILED
// FAILED: moa-run: 'sum' failed: ncclAllReduce failed: unhandled system error (fake)
// RUN: not env LD_LIBRARY_PATH=%moa_obj_root/test/GPU/FakeDriver MOA_NCCL_LIBRARY=%t/none.so \
// RUN:   %mpirun -np 2 moa-run %t/sum.so sum %t/x0.npy 2>&1 | FileCheck %s --check-prefix=NONCCL
// NONCCL: moa-run: 'sum' failed: NCCL (MOA_NCCL_LIBRARY={{.*}}none.so) cannot be loaded
