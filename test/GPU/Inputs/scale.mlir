// A gpu dialect kernel behind a tensor entry point: y = 2 * x. The entry's
// arguments and results cross between host and device in
// moa-gpu-host-boundary; the function works on device buffers.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%buf: memref<?xf32>, %n: index, %factor: f32) kernel {
      %bid = gpu.block_id x
      %bdim = gpu.block_dim x
      %tid = gpu.thread_id x
      %i0 = arith.muli %bid, %bdim : index
      %i = arith.addi %i0, %tid : index
      %ok = arith.cmpi ult, %i, %n : index
      scf.if %ok {
        %v = memref.load %buf[%i] : memref<?xf32>
        %w = arith.mulf %v, %factor : f32
        memref.store %w, %buf[%i] : memref<?xf32>
      }
      gpu.return
    }
  }
  func.func @scale(%x: tensor<?xf32>) -> tensor<?xf32> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    %f = arith.constant 2.0 : f32
    %xb = bufferization.to_buffer %x read_only : tensor<?xf32> to memref<?xf32>
    %n = memref.dim %xb, %c0 : memref<?xf32>
    %dev = gpu.alloc (%n) : memref<?xf32>
    gpu.memcpy %dev, %xb : memref<?xf32>, memref<?xf32>
    %blocks = arith.ceildivui %n, %c128 : index
    gpu.launch_func @kernels::@scale blocks in (%blocks, %c1, %c1)
        threads in (%c128, %c1, %c1) args(%dev : memref<?xf32>, %n : index, %f : f32)
    %y = bufferization.to_tensor %dev restrict writable : memref<?xf32> to tensor<?xf32>
    return %y : tensor<?xf32>
  }
}
