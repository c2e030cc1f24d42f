// RUN: moa-opt %s -split-input-file -moa-gpu-emulate -verify-diagnostics | FileCheck %s

// A kernel with shared memory, a barrier, a shuffle and an mma.sync becomes a
// host function calling the emulator; its launch a loop over blocks, each
// block's threads one OpenMP parallel region; host GPU ops become memref and
// linalg ops (device and shared buffers 256-byte aligned, as cudaMalloc's;
// each shared buffer told to the emulator with its declared alignment, none
// here), and the gpu.module goes.
// CHECK-LABEL: func.func @entry(
// CHECK: %[[BUF:.*]] = memref.alloc(%{{.*}}) {alignment = 256 : i64} : memref<?xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[BUF]] : memref<?xf32>)
// CHECK: memref.copy %{{.*}}, %[[BUF]]
// CHECK: scf.for %[[BX:[^ ]*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.for %[[BY:[^ ]*]] = %{{.*}} to %c1 step %{{.*}} {
// CHECK: call @moa_emu_block_begin
// CHECK: %[[SHARED:.*]] = memref.alloc() {alignment = 256 : i64} : memref<32xf32>
// CHECK: memref.extract_aligned_pointer_as_index %[[SHARED]]
// CHECK: %[[A64:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @moa_emu_shared_buffer(%[[A64]], %c128_i64, %c0_i64)
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

// -----

// The Hopper ops: the host's tensor map is the emulator's, made from the
// ranked memref behind the unranked one; in the kernel the map, the
// mbarrier group and the wgmma descriptors are i64 handles, the 64 x 64
// accumulator each thread's 32 floats (loop-carried as such), and the
// warpgroup mma one wgmma per 16-deep k-step (A advancing 32 bytes, 2 in
// the descriptor's 16-byte units; B 16 rows of 128 bytes, 128), then
// plain stores of the fragment; wgmma's waits are no-ops.
!tile = memref<64x64xbf16, 3>
!map = !nvgpu.tensormap.descriptor<tensor = !tile, swizzle = swizzle_128b,
    l2promo = none, oob = zero, interleave = none>
!barriers = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>>
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>
!desc = !nvgpu.warpgroup.descriptor<tensor = !tile>
// CHECK-LABEL: func.func @hopper(
// CHECK: %[[CAST:.*]] = memref.cast %{{.*}} : memref<64x64xbf16> to memref<*xbf16>
// CHECK: %[[MAP:.*]] = call @moa_emu_tma_descriptor(%c2_i64, %c2_i64{{.*}}, %c3_i64, %c0_i64
// CHECK: call @moa_emu_shared_buffer(%{{.*}}, %c8192_i64, %c1024_i64)
// CHECK: call @__moa_emu_kernels_hopper(%{{.*}}, %[[MAP]], %{{.*}}) : (index, index, index, index, index, index, i64, memref<64x64xf32>, memref<64x64xbf16>) -> ()
// CHECK-LABEL: func.func private @__moa_emu_kernels_hopper(
// CHECK-SAME: %[[ARG_MAP:[^:]*]]: i64, %[[OUT:[^:]*]]: memref<64x64xf32>, %[[TILE:[^:]*]]: memref<64x64xbf16>)
// CHECK: %[[BARS:.*]] = call @moa_emu_mbarrier_create(%c0_i64, %c1_i64) : (i64, i64) -> i64
// CHECK: call @moa_emu_mbarrier_init(%[[BARS]],
// CHECK: scf.if
// CHECK: call @moa_emu_mbarrier_arrive_expect_tx(%[[BARS]], %{{.*}}, %{{.*}}) : (i64, i64, i64) -> ()
// CHECK: scf.if
// CHECK: call @moa_emu_tma_load(%[[ARG_MAP]], %{{.*}}, %[[BARS]], %{{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK: call @moa_emu_mbarrier_wait_parity(%[[BARS]], %{{.*}}, %{{.*}}) : (i64, i64, i64) -> ()
// CHECK: %[[DESC:.*]] = call @moa_emu_wgmma_descriptor(%{{.*}}, %c3_i64, %c8192_i64, %c1024_i64) : (i64, i64, i64, i64) -> i64
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<32xf32>)
// CHECK: vector.store %[[ACC]], %[[SCRATCH:[a-z_0-9]+]][%{{.*}}] : memref<32xf32>, vector<32xf32>
// CHECK: %[[A0:.*]] = arith.addi %[[DESC]], %c0_i64
// CHECK: call @moa_emu_wgmma(%[[A0]], %{{.*}}, %c1_i32, %c0_i32, %c1_i32{{.*}}, %c64_i32, %{{.*}})
// CHECK: arith.addi %[[DESC]], %c2_i64
// CHECK: arith.addi %[[DESC]], %c128_i64
// CHECK-COUNT-2: call @moa_emu_wgmma(
// CHECK: vector.load %[[SCRATCH]][%{{.*}}] : memref<32xf32>, vector<32xf32>
// CHECK-COUNT-32: memref.store %{{.*}}, %[[OUT]][%{{.*}}, %{{.*}}] : memref<64x64xf32>
// CHECK: call @moa_emu_thread_end()
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @hopper(%map: !map, %out: memref<64x64xf32>)
        workgroup(%tile: !tile {llvm.align = 1024 : i64}) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %bytes = arith.constant 8192 : index
      %tid = gpu.thread_id x
      %leader = arith.cmpi eq, %tid, %c0 : index
      %bar = nvgpu.mbarrier.create -> !barriers
      nvgpu.mbarrier.init %bar[%c0], %c1, predicate = %leader : !barriers
      gpu.barrier
      nvgpu.mbarrier.arrive.expect_tx %bar[%c0], %bytes, predicate = %leader : !barriers
      nvgpu.tma.async.load %map[%c0, %c0], %bar[%c0] to %tile, predicate = %leader
          : !map, !barriers -> !tile
      %false = arith.constant false
      %ticks = arith.constant 1000 : index
      nvgpu.mbarrier.try_wait.parity %bar[%c0], %false, %ticks : !barriers
      %d = nvgpu.warpgroup.generate.descriptor %tile, %map : !tile, !map -> !desc
      %init = nvgpu.warpgroup.mma.init.accumulator -> !acc
      %sum = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %init) -> (!acc) {
        %next = nvgpu.warpgroup.mma %d, %d, %acc {transposeB}
            : !desc, !desc, !acc -> !acc
        scf.yield %next : !acc
      }
      nvvm.wgmma.wait.group.sync.aligned 0
      nvgpu.warpgroup.mma.store %sum, %out : !acc to memref<64x64xf32>
      gpu.return
    }
  }
  func.func @hopper(%buffer: memref<64x64xbf16>, %out: memref<64x64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %c128 = arith.constant 128 : index
    %unranked = memref.cast %buffer : memref<64x64xbf16> to memref<*xbf16>
    %map = nvgpu.tma.create.descriptor %unranked box[%c64, %c64] : memref<*xbf16> -> !map
    gpu.launch_func @kernels::@hopper blocks in (%c1, %c1, %c1) threads in (%c128, %c1, %c1)
        args(%map : !map, %out : memref<64x64xf32>)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @prefetch(%map: !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>) kernel {
      gpu.return
    }
  }
  func.func @unranked(%buffer: memref<*xbf16>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    // expected-error @+1 {{moa-gpu-emulate needs the tensor map's memref cast from a ranked memref of rank 1 to 5}}
    %map = nvgpu.tma.create.descriptor %buffer box[%c64, %c64] : memref<*xbf16> -> !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
    gpu.launch_func @kernels::@prefetch blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%map : !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>)
    return
  }
}
