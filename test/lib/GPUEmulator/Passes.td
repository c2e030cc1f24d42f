//===- Passes.td - test-only passes of moa -----------------*- tablegen -*-===//

#ifndef MOA_TEST_GPUEMULATOR_PASSES_TD
#define MOA_TEST_GPUEMULATOR_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoAGPUEmulate : Pass<"moa-gpu-emulate", "::mlir::ModuleOp"> {
  let summary = "Run outlined GPU kernels on the CPU (for tests)";
  let description = [{
    After `gpu-kernel-outlining`, on synchronous host code: each `gpu.func`
    becomes a private host function of (block x, block y, thread, grid x,
    grid y, block size, kernel arguments, shared buffers); each
    `gpu.launch_func` a loop over blocks that allocates the block's shared
    buffers and runs its threads as the threads of one `omp.parallel`
    region (as many OS threads as the block has, so that barriers can be
    waited on); `gpu.barrier`, `gpu.shuffle` and `nvvm.mma.sync`
    (m16n8k16, f16/bf16, f32 accumulators) call the emulator in
    `libMoAGpuEmulator` (test/lib/GPUEmulator/GpuEmulator.cpp); host `gpu.alloc`,
    `gpu.dealloc`, `gpu.memcpy`, `gpu.memset` and `gpu.wait` become memref
    and linalg ops. This tests the kernels' logic against a reference on
    machines without a GPU; it says nothing about their speed.

    With `profile`, each kernel also reports what a GPU's cost depends on
    (test/lib/GPUEmulator/Profile.cpp): every global and shared memory
    access (loads, stores, `vector` loads and stores, `nvgpu.ldmatrix`,
    `nvgpu.device_async_copy`) with its address and width, every `mma.sync`
    and every barrier; the emulator groups the accesses by warp and
    instruction into 32-byte sectors and shared-memory wavefronts and
    writes one line per launch.
  }];
  let options = [
    Option<"profile", "profile", "bool", /*default=*/"false",
           "Count each launch's memory traffic, tensor-core work and "
           "barriers (MOA_EMU_PROFILE names the file, else stderr)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::omp::OpenMPDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // MOA_TEST_GPUEMULATOR_PASSES_TD
