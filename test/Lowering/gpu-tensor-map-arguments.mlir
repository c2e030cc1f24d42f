// RUN: moa-opt %s -split-input-file -moa-gpu-tensor-map-arguments | FileCheck %s

// A kernel's tensor-map argument becomes the pointer convert-nvgpu-to-nvvm
// makes of it, cast back at the kernel's entry; each launch casts its
// operand; other arguments stay.
!map = !nvgpu.tensormap.descriptor<tensor = memref<64x64xbf16, 3>,
    swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @prefetch
    // CHECK-SAME: (%[[PTR:.*]]: !llvm.ptr, %[[N:.*]]: index)
    // CHECK: %[[MAP:.*]] = builtin.unrealized_conversion_cast %[[PTR]] : !llvm.ptr to !nvgpu.tensormap.descriptor
    // CHECK: nvgpu.tma.prefetch.descriptor %[[MAP]]
    gpu.func @prefetch(%map: !map, %n: index) kernel {
      nvgpu.tma.prefetch.descriptor %map : !map
      gpu.return
    }
  }
  // CHECK-LABEL: func.func @launch
  // CHECK: %[[MAP:.*]] = nvgpu.tma.create.descriptor
  // CHECK: %[[PTR:.*]] = builtin.unrealized_conversion_cast %[[MAP]] : !nvgpu.tensormap.descriptor<{{.*}}> to !llvm.ptr
  // CHECK: gpu.launch_func @kernels::@prefetch {{.*}} args(%[[PTR]] : !llvm.ptr, %{{.*}} : index)
  func.func @launch(%buffer: memref<*xbf16>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %map = nvgpu.tma.create.descriptor %buffer box[%c64, %c64] : memref<*xbf16> -> !map
    gpu.launch_func @kernels::@prefetch blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1) args(%map : !map, %c64 : index)
    return
  }
}

// -----

// Kernels without tensor maps, and non-kernel functions, are left alone.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // CHECK-LABEL: gpu.func @plain
    // CHECK-SAME: (%{{.*}}: memref<?xf32>) kernel
    // CHECK-NOT: unrealized_conversion_cast
    gpu.func @plain(%x: memref<?xf32>) kernel {
      gpu.return
    }
  }
}
