// RUN: moa-opt %s -split-input-file -moa-convert-mpi-to-gpu-runtime -verify-diagnostics | FileCheck %s

// The all-reduce of device buffers becomes the GPU runtime's call on
// one-dimensional views (one declaration, C interface); the world
// communicator goes with it.
// CHECK: func.func private @moa_gpu_all_reduce_sum_f32(memref<?xf32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @bucket(
// CHECK-SAME: %[[N:.*]]: index
// CHECK-DAG: %[[SEND:.*]] = gpu.alloc (%[[N]]) : memref<?xf32>
// CHECK-DAG: %[[RECV:.*]] = gpu.alloc () : memref<16xf32>
// CHECK-NOT: mpi.
// CHECK-DAG: %[[S:.*]] = memref.cast %[[SEND]] : memref<?xf32> to memref<?xf32, strided<[?], offset: ?>>
// CHECK-DAG: %[[R:.*]] = memref.cast %[[RECV]] : memref<16xf32> to memref<?xf32, strided<[?], offset: ?>>
// CHECK: call @moa_gpu_all_reduce_sum_f32(%[[S]], %[[R]])
// CHECK-NOT: mpi.
func.func @bucket(%n: index) {
  %send = gpu.alloc (%n) : memref<?xf32>
  %recv = gpu.alloc () : memref<16xf32>
  %world = mpi.comm_world : !mpi.comm
  mpi.allreduce(%send, %recv, MPI_SUM, %world) : memref<?xf32>, memref<16xf32>
  return
}

// -----

func.func @maximum(%send: memref<8xf32>, %recv: memref<8xf32>) {
  %world = mpi.comm_world : !mpi.comm
  // expected-error @below {{moa-convert-mpi-to-gpu-runtime: only sums are all-reduced on the GPU}}
  mpi.allreduce(%send, %recv, MPI_MAX, %world) : memref<8xf32>, memref<8xf32>
  return
}

// -----

func.func @integers(%send: memref<8xi32>, %recv: memref<8xi32>) {
  %world = mpi.comm_world : !mpi.comm
  // expected-error @below {{moa-convert-mpi-to-gpu-runtime: expected one-dimensional f32 buffers, got 'memref<8xi32>'}}
  mpi.allreduce(%send, %recv, MPI_SUM, %world) : memref<8xi32>, memref<8xi32>
  return
}
