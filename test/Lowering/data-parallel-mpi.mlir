// RUN: moa-opt %s -moa-generate-train-step -moa-data-parallel -moa-cpu-pipeline | FileCheck %s
// RUN: moa-opt %s -moa-generate-train-step -moa-data-parallel -convert-elementwise-to-linalg -convert-shard-to-mpi -moa-finalize-mpi | FileCheck %s --check-prefix=MPI

// The two all-reduces of a data-parallel step (the routing statistics, then
// the bucket of gradients and losses) as MPI_Allreduce calls on
// MPI_COMM_WORLD with Open MPI's symbols; no communicator is split, no grid
// is left, and the manifest tells the runtime the job's size.
// CHECK-NOT: shard.grid
// CHECK-DAG: llvm.func @MPI_Allreduce(!llvm.ptr, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> i32
// CHECK-DAG: llvm.mlir.global external @ompi_mpi_op_sum()
// CHECK-DAG: llvm.mlir.global external @ompi_mpi_float()
// CHECK-DAG: llvm.mlir.global external @ompi_mpi_comm_world()
// CHECK-LABEL: llvm.func @loss_train_step(
// CHECK-NOT: MPI_Comm_split
// CHECK: llvm.mlir.addressof @ompi_mpi_comm_world
// CHECK: llvm.mlir.addressof @ompi_mpi_float
// CHECK: llvm.mlir.addressof @ompi_mpi_op_sum
// CHECK: llvm.call @MPI_Allreduce(
// CHECK: llvm.call @MPI_Allreduce(
// CHECK-NOT: llvm.call @MPI_
// CHECK: llvm.mlir.global external constant @moa_manifest("moa-manifest 2\0Aranks 2\0A

// Before the buffer lowering: the split of the world is the world, and
// each input is sent from where it is into a fresh buffer (MPI forbids
// reducing a buffer into itself without MPI_IN_PLACE).
// MPI-LABEL: func.func @loss_train_step(
// MPI-NOT: mpi.comm_split
// MPI: %[[STATS:.*]] = bufferization.to_buffer
// MPI: %[[INTO:.*]] = memref.alloc() : memref<2x8xf32>
// MPI-NOT: linalg.copy
// MPI: mpi.comm_world
// MPI-DAG: %[[RECV:.*]] = memref.collapse_shape %[[INTO]] {{\[\[}}0, 1]] : memref<2x8xf32> into memref<16xf32>
// MPI-DAG: %[[SEND:.*]] = memref.collapse_shape %[[STATS]] {{\[\[}}0, 1]] : memref<2x8xf32> into memref<16xf32>
// MPI: mpi.allreduce(%[[SEND]], %[[RECV]], MPI_SUM, %{{.*}}) : memref<16xf32>, memref<16xf32>
// MPI: %[[BUCKET:.*]] = bufferization.to_buffer
// MPI: %[[SUM:.*]] = memref.alloc() : memref<257xf32>
// MPI-NOT: linalg.copy
// MPI: mpi.allreduce(%[[BUCKET]], %[[SUM]], MPI_SUM, %{{.*}}) : memref<257xf32>, memref<257xf32>
// MPI-NOT: shard.grid
func.func @loss(%table: tensor<32x8xf32> {moa.param = "embed", moa.init = "normal"},
    %ids: tensor<?x?xi32> {moa.name = "tokens"}) -> (tensor<f32> {moa.name = "lb"}) {
  %logits = moa.embedding %ids, %table : tensor<?x?xi32>, tensor<32x8xf32> -> tensor<?x?x8xf32>
  %idx, %gates = moa.route %logits k(2) : tensor<?x?x8xf32>
  %lb = moa.load_balancing_loss %logits, %idx : tensor<?x?x8xf32>, tensor<?x?x2xi32>
  return %lb : tensor<f32>
}
