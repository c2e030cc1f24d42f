// A Hopper GEMM the way the sm_90a kernels are built: C (f32, 128 x 128) =
// A (bf16, 128 x 256) B (bf16, 256 x 128), one warpgroup per 64 x 64 tile of
// C, operands brought by TMA in 64 x 64 boxes with the 128-byte swizzle into
// two stages of shared memory, each completed on its mbarrier (4 k-tiles: each
// mbarrier goes through phases 0 and 1), and multiplied by wgmma from there
// (A K-major, B N-major: transposeB). The entry @wgmma_gemm takes A and B in
// f32 and rounds them to bf16 on the host. test/GPU/wgmma-emulated.mlir also
// runs it with layouts made wrong, which the emulator must catch.

!tile = memref<64x64xbf16, 3>
!map = !nvgpu.tensormap.descriptor<tensor = !tile, swizzle = swizzle_128b,
    l2promo = none, oob = zero, interleave = none>
!barriers = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>,
    num_barriers = 2>
!acc = !nvgpu.warpgroup.accumulator<fragmented = vector<64x64xf32>>

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @gemm(%mapA: !map, %mapB: !map, %c: memref<128x128xf32>)
        workgroup(%a0: !tile {llvm.align = 1024 : i64},
                  %a1: !tile {llvm.align = 1024 : i64},
                  %b0: !tile {llvm.align = 1024 : i64},
                  %b1: !tile {llvm.align = 1024 : i64}) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c4 = arith.constant 4 : index
      %c64 = arith.constant 64 : index
      %bytes = arith.constant 16384 : index
      %ticks = arith.constant 10000000 : index
      %tid = gpu.thread_id x
      %bm = gpu.block_id x
      %bn = gpu.block_id y
      %row0 = arith.muli %bm, %c64 : index
      %col0 = arith.muli %bn, %c64 : index
      %leader = arith.cmpi eq, %tid, %c0 : index
      %bar = nvgpu.mbarrier.create -> !barriers
      nvgpu.mbarrier.init %bar[%c0], %c1, predicate = %leader : !barriers
      nvgpu.mbarrier.init %bar[%c1], %c1, predicate = %leader : !barriers
      gpu.barrier
      // Thread 0 fills both stages with k-tiles 0 and 1.
      scf.for %s = %c0 to %c2 step %c1 {
        %first = arith.cmpi eq, %s, %c0 : index
        %a = arith.select %first, %a0, %a1 : !tile
        %b = arith.select %first, %b0, %b1 : !tile
        %k0 = arith.muli %s, %c64 : index
        nvgpu.mbarrier.arrive.expect_tx %bar[%s], %bytes, predicate = %leader : !barriers
        nvgpu.tma.async.load %mapA[%k0, %row0], %bar[%s] to %a, predicate = %leader
            : !map, !barriers -> !tile
        nvgpu.tma.async.load %mapB[%col0, %k0], %bar[%s] to %b, predicate = %leader
            : !map, !barriers -> !tile
      }
      %init = nvgpu.warpgroup.mma.init.accumulator -> !acc
      %sum = scf.for %kt = %c0 to %c4 step %c1 iter_args(%acc = %init) -> (!acc) {
        %s = arith.remui %kt, %c2 : index
        %use = arith.divui %kt, %c2 : index
        %parity_index = arith.remui %use, %c2 : index
        %parity = arith.index_cast %parity_index : index to i1
        nvgpu.mbarrier.try_wait.parity %bar[%s], %parity, %ticks : !barriers
        %first = arith.cmpi eq, %s, %c0 : index
        %a = arith.select %first, %a0, %a1 : !tile
        %b = arith.select %first, %b0, %b1 : !tile
        %da = nvgpu.warpgroup.generate.descriptor %a, %mapA : !tile, !map
            -> !nvgpu.warpgroup.descriptor<tensor = !tile>
        %db = nvgpu.warpgroup.generate.descriptor %b, %mapB : !tile, !map
            -> !nvgpu.warpgroup.descriptor<tensor = !tile>
        %next = nvgpu.warpgroup.mma %da, %db, %acc {transposeB}
            : !nvgpu.warpgroup.descriptor<tensor = !tile>,
              !nvgpu.warpgroup.descriptor<tensor = !tile>, !acc -> !acc
        // The stage is free once every warp's wgmma has read it.
        nvvm.wgmma.wait.group.sync.aligned 0
        gpu.barrier
        %kn = arith.addi %kt, %c2 : index
        %more = arith.cmpi ult, %kn, %c4 : index
        %refill = arith.andi %more, %leader : i1
        %k0 = arith.muli %kn, %c64 : index
        nvgpu.mbarrier.arrive.expect_tx %bar[%s], %bytes, predicate = %refill : !barriers
        nvgpu.tma.async.load %mapA[%k0, %row0], %bar[%s] to %a, predicate = %refill
            : !map, !barriers -> !tile
        nvgpu.tma.async.load %mapB[%col0, %k0], %bar[%s] to %b, predicate = %refill
            : !map, !barriers -> !tile
        scf.yield %next : !acc
      }
      %out = memref.subview %c[%row0, %col0] [64, 64] [1, 1]
          : memref<128x128xf32> to memref<64x64xf32, strided<[128, 1], offset: ?>>
      nvgpu.warpgroup.mma.store %sum, %out
          : !acc to memref<64x64xf32, strided<[128, 1], offset: ?>>
      gpu.return
    }
  }

  func.func private @to_bf16(%x: memref<?x?xf32>, %y: memref<?x?xbf16>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %rows = memref.dim %x, %c0 : memref<?x?xf32>
    %cols = memref.dim %x, %c1 : memref<?x?xf32>
    scf.for %i = %c0 to %rows step %c1 {
      scf.for %j = %c0 to %cols step %c1 {
        %v = memref.load %x[%i, %j] : memref<?x?xf32>
        %w = arith.truncf %v : f32 to bf16
        memref.store %w, %y[%i, %j] : memref<?x?xbf16>
      }
    }
    return
  }

  func.func @wgmma_gemm(%a: tensor<128x256xf32>, %b: tensor<256x128xf32>)
      -> tensor<128x128xf32> {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    %c128 = arith.constant 128 : index
    %ha = bufferization.to_buffer %a read_only : tensor<128x256xf32> to memref<128x256xf32>
    %hb = bufferization.to_buffer %b read_only : tensor<256x128xf32> to memref<256x128xf32>
    %ha16 = memref.alloc() : memref<128x256xbf16>
    %hb16 = memref.alloc() : memref<256x128xbf16>
    %ha_any = memref.cast %ha : memref<128x256xf32> to memref<?x?xf32>
    %ha16_any = memref.cast %ha16 : memref<128x256xbf16> to memref<?x?xbf16>
    %hb_any = memref.cast %hb : memref<256x128xf32> to memref<?x?xf32>
    %hb16_any = memref.cast %hb16 : memref<256x128xbf16> to memref<?x?xbf16>
    func.call @to_bf16(%ha_any, %ha16_any) : (memref<?x?xf32>, memref<?x?xbf16>) -> ()
    func.call @to_bf16(%hb_any, %hb16_any) : (memref<?x?xf32>, memref<?x?xbf16>) -> ()
    %da = gpu.alloc () : memref<128x256xbf16>
    %db = gpu.alloc () : memref<256x128xbf16>
    %dc = gpu.alloc () : memref<128x128xf32>
    gpu.memcpy %da, %ha16 : memref<128x256xbf16>, memref<128x256xbf16>
    gpu.memcpy %db, %hb16 : memref<256x128xbf16>, memref<256x128xbf16>
    %ua = memref.cast %da : memref<128x256xbf16> to memref<*xbf16>
    %ub = memref.cast %db : memref<256x128xbf16> to memref<*xbf16>
    %mapA = nvgpu.tma.create.descriptor %ua box[%c64, %c64] : memref<*xbf16> -> !map
    %mapB = nvgpu.tma.create.descriptor %ub box[%c64, %c64] : memref<*xbf16> -> !map
    gpu.launch_func @kernels::@gemm blocks in (%c2, %c2, %c1)
        threads in (%c128, %c1, %c1)
        args(%mapA : !map, %mapB : !map, %dc : memref<128x128xf32>)
    %hc = memref.alloc() : memref<128x128xf32>
    gpu.memcpy %hc, %dc : memref<128x128xf32>, memref<128x128xf32>
    %c = bufferization.to_tensor %hc restrict writable : memref<128x128xf32> to tensor<128x128xf32>
    return %c : tensor<128x128xf32>
  }
}
