//===- Passes.h - The CPU emulator of moa's GPU kernels ---------*- C++ -*-===//
//
// Test-only: moa-gpu-emulate runs outlined GPU kernels on the CPU, so that
// the kernels' logic is checked against the reference on machines without a
// GPU (moa-compile --emulate-gpu, the emulated lit tests).
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_GPUEMULATOR_PASSES_H
#define MOA_TEST_GPUEMULATOR_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::moa::test {

#define GEN_PASS_DECL
#include "test/lib/GPUEmulator/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "test/lib/GPUEmulator/Passes.h.inc"

/// A module with the forward MoA layer to the LLVM dialect with its kernels
/// run on the CPU by moa-gpu-emulate (OpenMP threads, libMoAGpuEmulator).
/// `loweringOptions` as for buildCUDAPipeline.
/// The CUDA pipeline with the kernels run by the emulator, which profiles
/// every launch if `profile` (moa-gpu-emulate's option).
void buildCUDAEmulatorPipeline(OpPassManager &pm,
                               StringRef loweringOptions = "",
                               bool profile = false);

/// Registers moa-gpu-emulate.
inline void registerTestPasses() { registerMoATestPasses(); }

} // namespace mlir::moa::test

#endif // MOA_TEST_GPUEMULATOR_PASSES_H
