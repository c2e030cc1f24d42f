// Small kernels whose memory traffic, tensor-core work and barriers are
// known by hand (test/GPU/emulator-profile.mlir): coalesced and strided
// global accesses, shared-memory bank conflicts and broadcasts, ldmatrix
// over a conflicting and a conflict-free layout, one mma.sync per warp,
// instructions of each class in a loop and a branch, and blocks of unequal
// work.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // 2 blocks of 128 threads: buf[i] *= 2 with i = block * 128 + thread.
    gpu.func @coalesced(%buf: memref<?xf32>) kernel {
      %bid = gpu.block_id x
      %tid = gpu.thread_id x
      %c128 = arith.constant 128 : index
      %base = arith.muli %bid, %c128 : index
      %i = arith.addi %base, %tid : index
      %v = memref.load %buf[%i] : memref<?xf32>
      %w = arith.addf %v, %v : f32
      memref.store %w, %buf[%i] : memref<?xf32>
      gpu.return
    }
    // One warp: buf[t] = buf[8 t], lanes 32 bytes apart.
    gpu.func @strided(%buf: memref<?xf32>) kernel {
      %tid = gpu.thread_id x
      %c8 = arith.constant 8 : index
      %j = arith.muli %tid, %c8 : index
      %v = memref.load %buf[%j] : memref<?xf32>
      gpu.barrier
      memref.store %v, %buf[%tid] : memref<?xf32>
      gpu.return
    }
    // One warp through shared memory: a conflict-free store, a 32-way
    // conflict (a column of words 128 bytes apart), a broadcast and 16-byte
    // vector loads (4 phases of 8 lanes; declared 16-byte aligned: the
    // profile counts a vector access aligned to less than its width as one
    // access per element, as LLVM emits it); then a global broadcast.
    gpu.func @banks(%buf: memref<?xf32>)
        workgroup(%smem: memref<1024xf32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c32 = arith.constant 32 : index
      %x = memref.load %buf[%tid] : memref<?xf32>
      memref.store %x, %smem[%tid] : memref<1024xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %column = arith.muli %tid, %c32 : index
      %a = memref.load %smem[%column] : memref<1024xf32, #gpu.address_space<workgroup>>
      %b = memref.load %smem[%c0] : memref<1024xf32, #gpu.address_space<workgroup>>
      %quad = arith.muli %tid, %c4 : index
      %c = vector.load %smem[%quad] {alignment = 16 : i64} : memref<1024xf32, #gpu.address_space<workgroup>>, vector<4xf32>
      %c_0 = vector.extract %c[0] : f32 from vector<4xf32>
      %ab = arith.addf %a, %b : f32
      %abc = arith.addf %ab, %c_0 : f32
      %first = memref.load %buf[%c0] : memref<?xf32>
      %sum = arith.addf %abc, %first : f32
      memref.store %sum, %buf[%tid] : memref<?xf32>
      gpu.return
    }
    // 2 blocks of one warp: ldmatrix x4 from rows 128 bytes apart (each
    // matrix's 8 rows in the same 4 banks: 8 wavefronts) and from packed
    // rows (1 wavefront per matrix), then one m16n8k16 mma.sync.
    gpu.func @fragments(%buf: memref<?xf32>)
        workgroup(%wide: memref<32x64xf16, #gpu.address_space<workgroup>>,
                  %packed: memref<32x8xf16, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %bid = gpu.block_id x
      %c0 = arith.constant 0 : index
      %c32 = arith.constant 32 : index
      %a = nvgpu.ldmatrix %wide[%tid, %c0] {numTiles = 4 : i32, transpose = false}
          : memref<32x64xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
      %b4 = nvgpu.ldmatrix %packed[%tid, %c0] {numTiles = 4 : i32, transpose = false}
          : memref<32x8xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
      %b = vector.extract_strided_slice %b4 {offsets = [0, 0], sizes = [2, 2], strides = [1, 1]}
          : vector<4x2xf16> to vector<2x2xf16>
      %zero = arith.constant dense<0.0> : vector<2x2xf32>
      %d = nvgpu.mma.sync (%a, %b, %zero) {mmaShape = [16, 8, 16]}
          : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
      %d00 = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
      %base = arith.muli %bid, %c32 : index
      %i = arith.addi %base, %tid : index
      memref.store %d00, %buf[%i] : memref<?xf32>
      gpu.return
    }
    // One warp: 4 iterations of an exp, a multiply and an add, and a
    // shuffle; round trips through f16 and bf16 added; a store on odd lanes
    // only.
    gpu.func @arithmetic(%buf: memref<?xf32>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %one = arith.constant 1 : i32
      %width = arith.constant 32 : i32
      %x = memref.load %buf[%tid] : memref<?xf32>
      %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %x) -> f32 {
        %e = math.exp %acc : f32
        %m = arith.mulf %e, %acc : f32
        %a = arith.addf %m, %acc : f32
        %s, %valid = gpu.shuffle xor %a, %one, %width : f32
        scf.yield %s : f32
      }
      %h = arith.truncf %r : f32 to f16
      %w = arith.extf %h : f16 to f32
      %hb = arith.truncf %r : f32 to bf16
      %wb = arith.extf %hb : bf16 to f32
      %both = arith.addf %w, %wb : f32
      %bit = arith.andi %tid, %c1 : index
      %odd = arith.cmpi ne, %bit, %c0 : index
      scf.if %odd {
        memref.store %both, %buf[%tid] : memref<?xf32>
      }
      gpu.return
    }
    // A 2 x 2 grid of one warp each: block (x, y) doubles buf[t]
    // n = x + 2 y + 1 times, so in the hardware's order (x fastest) each
    // block has one more iteration than the one before.
    gpu.func @uneven(%buf: memref<?xf32>) kernel {
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %y2 = arith.muli %by, %c2 : index
      %xy = arith.addi %y2, %bx : index
      %n = arith.addi %xy, %c1 : index
      %x = memref.load %buf[%tid] : memref<?xf32>
      %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %x) -> f32 {
        %d = arith.addf %acc, %acc : f32
        scf.yield %d : f32
      }
      memref.store %r, %buf[%tid] : memref<?xf32>
      gpu.return
    }
  }
  func.func @profile(%x: tensor<256xf32>) -> tensor<?xf32> {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c32 = arith.constant 32 : index
    %c128 = arith.constant 128 : index
    %c256 = arith.constant 256 : index
    %xb = bufferization.to_buffer %x read_only : tensor<256xf32> to memref<256xf32>
    %dev = gpu.alloc (%c256) : memref<?xf32>
    %src = memref.cast %xb : memref<256xf32> to memref<?xf32>
    gpu.memcpy %dev, %src : memref<?xf32>, memref<?xf32>
    gpu.launch_func @kernels::@coalesced blocks in (%c2, %c1, %c1)
        threads in (%c128, %c1, %c1) args(%dev : memref<?xf32>)
    gpu.launch_func @kernels::@strided blocks in (%c1, %c1, %c1)
        threads in (%c32, %c1, %c1) args(%dev : memref<?xf32>)
    gpu.launch_func @kernels::@banks blocks in (%c1, %c1, %c1)
        threads in (%c32, %c1, %c1) args(%dev : memref<?xf32>)
    gpu.launch_func @kernels::@fragments blocks in (%c2, %c1, %c1)
        threads in (%c32, %c1, %c1) args(%dev : memref<?xf32>)
    gpu.launch_func @kernels::@arithmetic blocks in (%c1, %c1, %c1)
        threads in (%c32, %c1, %c1) args(%dev : memref<?xf32>)
    gpu.launch_func @kernels::@uneven blocks in (%c2, %c2, %c1)
        threads in (%c32, %c1, %c1) args(%dev : memref<?xf32>)
    %y = bufferization.to_tensor %dev restrict writable : memref<?xf32> to tensor<?xf32>
    return %y : tensor<?xf32>
  }
}
