//===- Passes.td - moa lowering passes ---------------------*- tablegen -*-===//

#ifndef MOA_LOWERING_PASSES_TD
#define MOA_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoALowerToRuntimeCalls : Pass<"moa-lower-to-runtime-calls", "::mlir::ModuleOp"> {
  let summary = "Lower moa primitives to calls of the CPU kernels of libMoARuntime";
  let description = [{
    Replaces every moa primitive (`moa.route`, `moa.dispatch`,
    `moa.grouped_matmul`, `moa.multi_query_attention`, the auxiliary losses)
    and every row projection `linalg.contract` ((b,t,n,c) -> (b,t,c), (c,n),
    (b,t,n), as `moa-decompose` emits) by a call of the matching kernel
    `moa_rt_*` (declared with `llvm.emit_c_interface`, defined in
    runtime/Kernels.cpp). Operands are handed over as buffers
    (`bufferization.to_buffer`), results are fresh `memref.alloc`s wrapped by
    `bufferization.to_tensor restrict writable`, so one-shot bufferization
    completes the rest of the module. f16 and bf16 operands are extended to f32
    around the call (the kernels compute in f32) and results truncated back.
    Run `moa-decompose` first; a layer left over is an error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoAExportEntryPoints : Pass<"moa-export-entry-points", "::mlir::ModuleOp"> {
  let summary = "Describe the public functions for the runtime";
  let description = [{
    Runs first, on tensors: every public `func.func` becomes an entry point.
    Its name, argument and result element types and shapes (with dynamic
    dimensions) are written to the module attribute `moa.manifest`, the text
    the runtime reads to check a call, and the function gets
    `llvm.emit_c_interface`. Entry points take and return ranked tensors of
    f32, f16, bf16, i32 or i1 only; anything else is a located error.
  }];
}

def MoAEmitRuntimeABI : Pass<"moa-emit-runtime-abi", "::mlir::ModuleOp"> {
  let summary = "Emit the manifest global and packed entry wrappers";
  let description = [{
    Runs last, on the LLVM dialect: stores `moa.manifest` as the
    null-terminated global `moa_manifest` and adds, for every entry point F,
    `void moa_entry_F(void **args)` that calls `_mlir_ciface_F` with
    `args[i]` as its i-th pointer argument (the result descriptor first), so
    the runtime calls every entry the same way.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MOA_LOWERING_PASSES_TD
