// A producer warp hands 8 rows of 64 f32 to two consumer warps through a
// ring of two slots in shared memory (test/GPU/pipeline-emulated.mlir), as
// the sm_90a attention hands K and V tiles to its consumer warpgroups: the
// producer's thread 0 writes row s into slot s % 2 once the consumers have
// released that slot after row s - 2 (the slot's `empty` mbarrier, one
// arrival per consumer warp), then arrives on the slot's `full` mbarrier;
// consumer thread c waits for it, adds element c of the row to its sum, and
// the consumers' 64 threads meet at bar.sync 1, 64 before each warp's lane
// 0 releases the slot. out[c] is the sum of column c.

!barriers = !nvgpu.mbarrier.group<memorySpace = #gpu.address_space<workgroup>,
    num_barriers = 2>

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @handoff(%in: memref<8x64xf32>, %out: memref<64xf32>)
        workgroup(%ring: memref<2x64xf32, #gpu.address_space<workgroup>>)
        kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c8 = arith.constant 8 : index
      %c32 = arith.constant 32 : index
      %c64 = arith.constant 64 : index
      %id = arith.constant 1 : i32
      %consumers = arith.constant 64 : i32
      %zero = arith.constant 0.0 : f32
      %ticks = arith.constant 10000000 : index
      %tid = gpu.thread_id x
      %leader = arith.cmpi eq, %tid, %c0 : index
      %full = nvgpu.mbarrier.create -> !barriers
      %empty = nvgpu.mbarrier.create -> !barriers
      nvgpu.mbarrier.init %full[%c0], %c1, predicate = %leader : !barriers
      nvgpu.mbarrier.init %full[%c1], %c1, predicate = %leader : !barriers
      nvgpu.mbarrier.init %empty[%c0], %c2, predicate = %leader : !barriers
      nvgpu.mbarrier.init %empty[%c1], %c2, predicate = %leader : !barriers
      gpu.barrier
      %producer = arith.cmpi ult, %tid, %c32 : index
      scf.if %producer {
        scf.if %leader {
          scf.for %s = %c0 to %c8 step %c1 {
            %slot = arith.remui %s, %c2 : index
            %round = arith.divui %s, %c2 : index
            %reuse = arith.cmpi uge, %s, %c2 : index
            scf.if %reuse {
              %before = arith.subi %round, %c1 : index
              %phase = arith.remui %before, %c2 : index
              %parity = arith.index_cast %phase : index to i1
              nvgpu.mbarrier.try_wait.parity %empty[%slot], %parity, %ticks : !barriers
            }
            scf.for %j = %c0 to %c64 step %c1 {
              %v = memref.load %in[%s, %j] : memref<8x64xf32>
              memref.store %v, %ring[%slot, %j] : memref<2x64xf32, #gpu.address_space<workgroup>>
            }
            %token = nvgpu.mbarrier.arrive %full[%slot] : !barriers -> !nvgpu.mbarrier.token
          }
        }
      } else {
        %c = arith.subi %tid, %c32 : index
        %lane = arith.remui %tid, %c32 : index
        %first = arith.cmpi eq, %lane, %c0 : index
        %sum = scf.for %s = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f32) {
          %slot = arith.remui %s, %c2 : index
          %round = arith.divui %s, %c2 : index
          %phase = arith.remui %round, %c2 : index
          %parity = arith.index_cast %phase : index to i1
          nvgpu.mbarrier.try_wait.parity %full[%slot], %parity, %ticks : !barriers
          %v = memref.load %ring[%slot, %c] : memref<2x64xf32, #gpu.address_space<workgroup>>
          %next = arith.addf %acc, %v : f32
          nvvm.barrier id = %id number_of_threads = %consumers
          scf.if %first {
            %token = nvgpu.mbarrier.arrive %empty[%slot] : !barriers -> !nvgpu.mbarrier.token
          }
          scf.yield %next : f32
        }
        memref.store %sum, %out[%c] : memref<64xf32>
      }
      gpu.return
    }
  }

  func.func @handoff(%x: tensor<8x64xf32>) -> tensor<64xf32> {
    %c1 = arith.constant 1 : index
    %c96 = arith.constant 96 : index
    %hx = bufferization.to_buffer %x read_only : tensor<8x64xf32> to memref<8x64xf32>
    %dx = gpu.alloc () : memref<8x64xf32>
    %dy = gpu.alloc () : memref<64xf32>
    gpu.memcpy %dx, %hx : memref<8x64xf32>, memref<8x64xf32>
    gpu.launch_func @kernels::@handoff blocks in (%c1, %c1, %c1)
        threads in (%c96, %c1, %c1)
        args(%dx : memref<8x64xf32>, %dy : memref<64xf32>)
    %hy = memref.alloc() : memref<64xf32>
    gpu.memcpy %hy, %dy : memref<64xf32>, memref<64xf32>
    %y = bufferization.to_tensor %hy restrict writable : memref<64xf32> to tensor<64xf32>
    return %y : tensor<64xf32>
  }
}
