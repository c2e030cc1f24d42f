//===- Passes.h - moa lowering passes and pipelines -------------*- C++ -*-===//

#ifndef MOA_LOWERING_PASSES_H
#define MOA_LOWERING_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::moa {

#define GEN_PASS_DECL
#include "lowering/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowering/Passes.h.inc"

/// The whole CPU path from moa on tensors to the LLVM dialect: the tensor
/// half then the buffer half below. Public functions get
/// `llvm.emit_c_interface`. Registered as `moa-cpu-pipeline`.
void buildCPUPipeline(OpPassManager &pm);
/// Entry points (the manifest), decompose, fuse, then upstream One-Shot
/// Bufferize: moa ops in their buffer form.
void buildCPUTensorPipeline(OpPassManager &pm);
/// From a bufferized module (moa ops on memrefs, the manifest already
/// recorded) to the LLVM dialect: loops, deallocation, OpenMP, LLVM.
/// Registered as `moa-cpu-buffer-pipeline`.
void buildCPUBufferPipeline(OpPassManager &pm);

/// A module with the forward MoA layer (moa ops or gpu dialect kernels) to
/// the LLVM dialect for NVIDIA GPUs: moa-lower-to-gpu, bufferization,
/// moa-gpu-host-boundary, outlining, one stream ordered by async tokens;
/// the kernels become a `format` ("fatbin", or "isa" for PTX) for `chip`
/// (e.g. sm_90a, sm_80) built with the CUDA toolkit's ptxas, the host code
/// calls the mgpu* ABI (runtime/cuda). `loweringOptions` are
/// moa-lower-to-gpu's (its tile sizes) in textual form, e.g.
/// "gemm-rows=32 attention-keys=32"; the caller checks that they parse
/// (see gpuLoweringOptionsError).
void buildCUDAPipeline(OpPassManager &pm, StringRef chip, StringRef features,
                       StringRef format = "fatbin",
                       StringRef loweringOptions = "");

/// The first half of buildCUDAPipeline: from moa on tensors to synchronous
/// host code with outlined gpu.module kernels (what the CPU emulator of the
/// kernels, test/lib/GPUEmulator, takes over from).
void buildGPUKernelsPipeline(OpPassManager &pm, StringRef loweringOptions = "");

/// Why `loweringOptions` are not options of moa-lower-to-gpu ("" if they
/// are).
std::string gpuLoweringOptionsError(StringRef loweringOptions);

/// Adds the patterns of moa-lower-to-loops: every moa op (but the layer)
/// and the row-projection contractions to loops on buffers (lowering/cpu).
void populateMoAToLoopsPatterns(RewritePatternSet &patterns);

/// Registers the lowering passes and the `moa-cpu-pipeline` pipeline.
void registerLoweringPasses();

} // namespace mlir::moa

#endif // MOA_LOWERING_PASSES_H
