//===- EmulatorPipeline.cpp - GPU kernels run on the CPU ------------------===//

#include "lowering/Passes.h"
#include "test/lib/GPUEmulator/Passes.h"

using namespace mlir;

void mlir::moa::test::buildCUDAEmulatorPipeline(OpPassManager &pm,
                                                StringRef loweringOptions,
                                                bool profile) {
  buildGPUKernelsPipeline(pm, loweringOptions);
  std::string emulation =
      std::string(profile ? "moa-gpu-emulate{profile=1}" : "moa-gpu-emulate") +
      ",canonicalize,"
      "func.func(convert-linalg-to-loops),moa-expand-bf16,"
      "expand-strided-metadata,lower-affine,finalize-memref-to-llvm,"
      "convert-scf-to-cf,convert-vector-to-llvm,convert-math-to-llvm,"
      "convert-arith-to-llvm,convert-openmp-to-llvm,convert-func-to-llvm,"
      "convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts,"
      "moa-emit-runtime-abi";
  if (failed(parsePassPipeline(emulation, pm)))
    llvm::report_fatal_error(
        "moa: the built-in GPU emulator pipeline does not parse");
}
