// RUN: moa-opt %s -split-input-file -moa-gpu-emulate -verify-diagnostics | FileCheck %s

// A kernel with shared memory, a barrier, a shuffle and an mma.sync becomes a
// host function calling the emulator; its launch a loop over blocks, each
// block's threads one OpenMP parallel region; host GPU ops become memref and
// linalg ops, and the gpu.module goes.
// CHECK-LABEL: func.func @entry(
// CHECK: %[[BUF:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[BUF]] : memref<?xf32>)
// CHECK: memref.copy %{{.*}}, %[[BUF]]
// CHECK: scf.for %[[BX:[^ ]*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.for %[[BY:[^ ]*]] = %{{.*}} to %c1 step %{{.*}} {
// CHECK: %[[SHARED:.*]] = memref.alloc() : memref<32xf32>
// CHECK: call @moa_emu_block_begin
// CHECK: omp.parallel num_threads(%{{.*}} : i32) {
// CHECK: %[[TID:.*]] = func.call @moa_emu_thread_index() : () -> i64
// CHECK: %[[T:.*]] = arith.index_cast %[[TID]] : i64 to index
// CHECK: func.call @__moa_emu_kernels_k(%[[BX]], %[[BY]], %[[T]], %{{.*}}, %c1, %c32, %[[BUF]], %[[SHARED]])
// CHECK: omp.terminator
// CHECK: memref.dealloc %[[SHARED]]
// CHECK: memref.dealloc %[[BUF]]
// CHECK-NOT: gpu.
// CHECK-LABEL: func.func private @__moa_emu_kernels_k(
// CHECK-SAME: %[[EBX:[^:]*]]: index, %{{.*}}: index, %[[ETID:[^:]*]]: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %[[EBUF:[^:]*]]: memref<?xf32>, %[[ESHARED:[^:]*]]: memref<32xf32>)
// CHECK: call @moa_emu_thread_begin
// CHECK: memref.store %{{.*}}, %[[ESHARED]][%[[ETID]]]
// CHECK: call @moa_emu_barrier()
// CHECK: call @moa_emu_shuffle_f32(%{{.*}}, %c1_i32, %c32_i32, %c0_i32)
// CHECK: call @moa_emu_mma(%c1_i32_
// CHECK-COUNT-4: call @moa_emu_mma_result
// CHECK: llvm.insertvalue
// CHECK: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%buf: memref<?xf32>) workgroup(%shared: memref<32xf32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %bid = gpu.block_id x
      %v = memref.load %buf[%bid] : memref<?xf32>
      memref.store %v, %shared[%tid] : memref<32xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %w = memref.load %shared[%tid] : memref<32xf32, #gpu.address_space<workgroup>>
      %c1 = arith.constant 1 : i32
      %c32 = arith.constant 32 : i32
      %s, %ok = gpu.shuffle xor %w, %c1, %c32 : f32
      %p = arith.constant 0 : i32
      %d = nvvm.mma.sync A[%p, %p, %p, %p] B[%p, %p] C[%s, %s, %s, %s]
        {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
         multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>,
         shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
      %e = llvm.extractvalue %d[0] : !llvm.struct<(f32, f32, f32, f32)>
      memref.store %e, %buf[%bid] : memref<?xf32>
      gpu.return
    }
  }
  func.func @entry(%x: memref<?xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %zero = arith.constant 0.0 : f32
    %n = memref.dim %x, %c0 : memref<?xf32>
    %buf = gpu.alloc (%n) : memref<?xf32>
    gpu.memset %buf, %zero : memref<?xf32>, f32
    gpu.memcpy %buf, %x : memref<?xf32>, memref<?xf32>
    gpu.launch_func @kernels::@k blocks in (%n, %c1, %c1) threads in (%c32, %c1, %c1) args(%buf : memref<?xf32>)
    gpu.dealloc %buf : memref<?xf32>
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @async_launch() {
    %c1 = arith.constant 1 : index
    %t = gpu.wait async
    // expected-error @+1 {{moa-gpu-emulate needs synchronous launches of gpu.func kernels in the module}}
    %u = gpu.launch_func async [%t] @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
