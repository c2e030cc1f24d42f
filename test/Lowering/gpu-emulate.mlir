// RUN: moa-opt %s -split-input-file -moa-gpu-emulate -verify-diagnostics | FileCheck %s

// A kernel with shared memory, a barrier, a shuffle and an mma.sync becomes a
// host function calling the emulator; its launch a loop over blocks, each
// block's threads one OpenMP parallel region; host GPU ops become memref and
// linalg ops (device and shared buffers 256-byte aligned, as cudaMalloc's),
// and the gpu.module goes.
// CHECK-LABEL: func.func @entry(
// CHECK: %[[BUF:.*]] = memref.alloc(%{{.*}}) {alignment = 256 : i64} : memref<?xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[BUF]] : memref<?xf32>)
// CHECK: memref.copy %{{.*}}, %[[BUF]]
// CHECK: scf.for %[[BX:[^ ]*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.for %[[BY:[^ ]*]] = %{{.*}} to %c1 step %{{.*}} {
// CHECK: %[[SHARED:.*]] = memref.alloc() {alignment = 256 : i64} : memref<32xf32>
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

// -----

// nvgpu ops are emulated as written: cp.async queues a copy of the bytes
// at two addresses (16, of which the source count given), the group commits
// and the wait runs what it covers; ldmatrix loads the lane's 8-element row
// (lanes past the matrices' rows load nothing) and exchanges it over the
// warp; nvgpu.mma.sync passes each vector row as a 32-bit register.
// CHECK-LABEL: func.func private @__moa_emu_kernels_tensor_cores(
// CHECK: %[[DST:.*]] = memref.extract_aligned_pointer_as_index
// CHECK: %[[SRC:.*]] = memref.extract_aligned_pointer_as_index
// CHECK: call @moa_emu_async_copy(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64, i64) -> ()
// CHECK: call @moa_emu_async_commit()
// CHECK: call @moa_emu_async_wait(%c0_i32)
// CHECK: scf.if %{{.*}} -> (vector<4xi32>) {
// CHECK: vector.load %{{.*}} : memref<16x24xf16>, vector<8xf16>
// CHECK: call @moa_emu_ldmatrix(%c4_i32{{[_0-9]*}}, %c1_i32{{[_0-9]*}},
// CHECK-COUNT-4: call @moa_emu_ldmatrix_result
// CHECK: call @moa_emu_mma(%c0_i32{{.*}}, %{{.*}}) : (i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> ()
// CHECK-COUNT-4: call @moa_emu_mma_result
// CHECK: call @moa_emu_thread_end()
// CHECK-NEXT: return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @tensor_cores(%a: memref<?x?xf16>, %n: index, %out: memref<?xf32>)
        workgroup(%tile: memref<16x24xf16, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %c8 = arith.constant 8 : index
      %tid = gpu.thread_id x
      %row = arith.remui %tid, %c8 : index
      %t = nvgpu.device_async_copy %a[%row, %c0], %tile[%row, %c8], 8, %n {bypassL1}
          : memref<?x?xf16> to memref<16x24xf16, #gpu.address_space<workgroup>>
      %g = nvgpu.device_async_create_group %t
      nvgpu.device_async_wait %g {numGroups = 0 : i32}
      gpu.barrier
      %f = nvgpu.ldmatrix %tile[%row, %c0] {numTiles = 4 : i32, transpose = true}
          : memref<16x24xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
      %b = vector.extract_strided_slice %f {offsets = [0, 0], sizes = [2, 2], strides = [1, 1]}
          : vector<4x2xf16> to vector<2x2xf16>
      %c = arith.constant dense<1.0> : vector<2x2xf32>
      %d = nvgpu.mma.sync (%f, %b, %c) {mmaShape = [16, 8, 16]}
          : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
      %e = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
      memref.store %e, %out[%tid] : memref<?xf32>
      gpu.return
    }
  }
  func.func @tensor_cores(%a: memref<?x?xf16>, %n: index, %out: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@tensor_cores blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1)
        args(%a : memref<?x?xf16>, %n : index, %out : memref<?xf32>)
    return
  }
}
