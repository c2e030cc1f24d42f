//===- Pipelines.cpp - The CPU, CUDA and emulator pipelines ---------------===//

#include "lowering/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "passes/Passes.h"

using namespace mlir;

/// Parses the built-in `pipeline` (`what` names it) into `pm`.
static void addPipeline(OpPassManager &pm, StringRef pipeline, StringRef what) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error(Twine("moa: the built-in ") + what +
                             " pipeline does not parse");
}

void mlir::moa::buildCPUTensorPipeline(OpPassManager &pm) {
  // Textual so that each stage reads as it would on the moa-opt command line.
  addPipeline(pm,
              // Arithmetic on tensors (a loss = ce + 0.01 * aux) becomes
              // linalg, its elementwise chains (an adjoint's casts and
              // sums) one loop each; moa ops then bufferize into their
              // buffer form.
              "moa-export-entry-points,moa-decompose,moa-fuse,"
              "convert-elementwise-to-linalg,canonicalize,cse,"
              "moa-fuse-elementwise,canonicalize,"
              // Collectives of a data-parallel step (moa-data-parallel)
              // become MPI calls.
              "convert-shard-to-mpi,moa-finalize-mpi,canonicalize,"
              // A tensor carried through scf.for may be a new buffer each
              // iteration (buffer deallocation frees the old ones).
              "one-shot-bufferize{bufferize-function-boundaries "
              "function-boundary-type-conversion=identity-layout-map "
              "allow-return-allocs-from-loops}",
              "CPU tensor");
}

void mlir::moa::buildCPUBufferPipeline(OpPassManager &pm) {
  addPipeline(pm,
              // Each kernel in a function of its own: compile time linear
              // in model depth.
              "moa-drop-tied-results,"
              "moa-outline-kernels,moa-lower-to-loops,canonicalize,cse,"
              "moa-hoist-result-buffers,canonicalize,"
              "buffer-deallocation-pipeline,"
              "func.func(convert-linalg-to-loops),canonicalize,cse,"
              "moa-expand-bf16,"
              // scf.parallel becomes OpenMP; its bodies sit in
              // memref.alloca_scope, which must be lowered while they are
              // still one block (before SCF becomes CF).
              "convert-scf-to-openmp,moa-omp-parallel-if,"
              "convert-bufferization-to-memref,"
              "expand-strided-metadata,lower-affine,"
              // Allocations through the runtime, which reports a failed
              // one (runtime/KernelContext.h).
              "finalize-memref-to-llvm{use-generic-functions},"
              "moa-convert-mpi-to-llvm,"
              "convert-scf-to-cf,"
              "convert-math-to-llvm,convert-arith-to-llvm,"
              "convert-openmp-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
              "reconcile-unrealized-casts,moa-emit-runtime-abi",
              "CPU buffer");
}

void mlir::moa::buildCPUPipeline(OpPassManager &pm) {
  buildCPUTensorPipeline(pm);
  buildCPUBufferPipeline(pm);
}

void mlir::moa::buildGPUKernelsPipeline(OpPassManager &pm,
                                        StringRef loweringOptions) {
  // From moa on tensors to host code with outlined kernels, synchronous:
  // the kernels are built on the buffer form, as the CPU loops are.
  std::string pipeline =
      ("moa-export-entry-points,moa-decompose,moa-fuse,"
       "convert-elementwise-to-linalg,canonicalize,cse,"
       // A data-parallel step's collectives as on the CPU; their buffers
       // are device buffers, all-reduced by the GPU runtime (below).
       "convert-shard-to-mpi,moa-finalize-mpi,canonicalize,"
       "one-shot-bufferize{bufferize-function-boundaries "
       "function-boundary-type-conversion=identity-layout-map},"
       "moa-lower-to-gpu{" +
       loweringOptions +
       "},"
       // The deallocation pipeline rejects gpu ops (unknown side effects):
       // moa-gpu-host-boundary frees the device buffers.
       "canonicalize,cse,convert-bufferization-to-memref,"
       "moa-gpu-host-boundary,moa-drop-tied-results,"
       "moa-convert-mpi-to-gpu-runtime,gpu-kernel-outlining,"
       // The outliner copies the kernels' shared-memory globals into their
       // gpu.module and leaves the host's, unused.
       "symbol-dce")
          .str();
  addPipeline(pm, pipeline, "GPU kernel");
}

void mlir::moa::buildCUDAPipeline(OpPassManager &pm, StringRef chip,
                                  StringRef features, StringRef format,
                                  StringRef loweringOptions) {
  buildGPUKernelsPipeline(pm, loweringOptions);
  // Launches, copies and frees on one stream, ordered by tokens: the host
  // waits once, at the end of each entry.
  std::string pipeline =
      (Twine("func.func(gpu-async-region),moa-gpu-tensor-map-arguments,"
             "gpu-lower-to-nvvm-pipeline{cubin-chip=") +
       chip + " cubin-features=" + features +
       " opt-level=3 cubin-format=" + format + "},moa-emit-runtime-abi")
          .str();
  addPipeline(pm, pipeline, "CUDA");
}

void mlir::moa::registerLoweringPasses() {
  registerMoALoweringPasses();
  PassPipelineRegistration<>(
      "moa-cpu-pipeline",
      "Lower a module with moa ops to the LLVM dialect for the CPU runtime",
      buildCPUPipeline);
  PassPipelineRegistration<>(
      "moa-cpu-buffer-pipeline",
      "The second half of moa-cpu-pipeline: a module bufferized by One-Shot "
      "Bufferize (moa ops in buffer form) to the LLVM dialect",
      buildCPUBufferPipeline);
}

std::string mlir::moa::gpuLoweringOptionsError(StringRef loweringOptions) {
  std::unique_ptr<Pass> pass = createMoALowerToGPU();
  std::string message;
  llvm::raw_string_ostream os(message);
  if (succeeded(pass->initializeOptions(loweringOptions, [&](const Twine &msg) {
        os << msg;
        return failure();
      })))
    return "";
  return message.empty() ? "cannot parse '" + loweringOptions.str() + "'"
                         : message;
}
