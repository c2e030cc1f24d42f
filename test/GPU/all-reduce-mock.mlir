// The recording mock's all-reduce of a data-parallel module: over MPI, as
// its device memory is host memory; each rank gets the sum.
// REQUIRES: cuda-toolkit, mpi
// RUN: rm -rf %t && mkdir -p %t/out0 %t/out1
// RUN: moa-compile %S/Inputs/all_reduce.mlir --target=cuda --mock-gpu -o %t/sum.so
// RUN: %python %S/Inputs/npy.py write %t/x0.npy 300
// RUN: %python %S/Inputs/npy.py write %t/x1.npy 300 0.125
// RUN: env MOA_MOCK_CUDA_LOG=%t/mock %mpirun -np 2 \
// RUN:   sh -c 'exec moa-run %t/sum.so sum %t/x$OMPI_COMM_WORLD_RANK.npy -o %t/out$OMPI_COMM_WORLD_RANK'
// RUN: %python %S/Inputs/npy.py check-sum %t/x0.npy %t/x1.npy %t/out0/out0.npy | FileCheck %s --check-prefix=SUM
// RUN: %python %S/Inputs/npy.py check-sum %t/x0.npy %t/x1.npy %t/out1/out0.npy | FileCheck %s --check-prefix=SUM
// RUN: FileCheck %s --check-prefix=MOCK < %t/mock
// SUM: 300 elements summed
// MOCK-COUNT-2: allReduce sum f32 300
