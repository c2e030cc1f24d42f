// RUN: moa-opt %s -split-input-file -moa-gpu-host-boundary -verify-diagnostics

func.func @host_buffer(%x: memref<4xf32>) -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{a host buffer in GPU code: this op's value has no device lowering}}
  %h = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    gpu.terminator
  }
  return %h : memref<4xf32>
}

// -----

// expected-error @+1 {{entry arguments need an identity layout}}
func.func @strided_argument(%x: memref<4xf32, strided<[2]>>) -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %y = gpu.alloc () : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%c0] : memref<4xf32, strided<[2]>>
    memref.store %v, %y[%c0] : memref<4xf32>
    gpu.terminator
  }
  return %y : memref<4xf32>
}
