//===- Passes.td - moa lowering passes ---------------------*- tablegen -*-===//

#ifndef MOA_LOWERING_PASSES_TD
#define MOA_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoALowerToLoops : Pass<"moa-lower-to-loops", "::mlir::ModuleOp"> {
  let summary = "Lower moa primitives to loops on buffers for the CPU";
  let description = [{
    Replaces every moa primitive (`moa.route`, `moa.dispatch`,
    `moa.grouped_matmul`, `moa.multi_query_attention`, the auxiliary losses),
    every training op (the `_grad` ops, `moa.layer_norm`, `moa.embedding`,
    `moa.cross_entropy`, `moa.global_norm`, `moa.adamw`), every row
    projection `linalg.contract` ((b,t,n,c) -> (b,t,c), (c,n), (b,t,n), as
    `moa-decompose` emits) and every weight-gradient `linalg.contract`
    ((b,t,c,n) -> (b,t,c), (b,t,n), (c,n), as `moa-generate-gradients`
    emits) by scf/memref/arith/math code on buffers. It runs after One-Shot
    Bufferize, on moa ops in their buffer form (memref operands, results
    replaced by the `memref.alloc`s the code writes; linalg contractions on
    memrefs write into their init), which is what `moa-cpu-pipeline` does.
    Ops still on tensors are accepted too: their operands are taken with
    `bufferization.to_buffer` right before the code that reads them and
    their results handed back with `bufferization.to_tensor restrict
    writable`, so for those nothing may run between this pass and
    bufferization.
    Independent work (tokens; tiles of 128 rows of one expert or of one batch)
    is an `scf.parallel`. GEMMs on 2-D views call `moa_rt_sgemm` (a grouped
    GEMM's tile names the weight of the next tile's expert, which the
    runtime prefetches while it multiplies), the routing
    counts go to `moa_rt_record_routing` (through `moa.record_routing`, lowered
    here too), and invalid data (an expert index out
    of range, a permutation that does not group the pairs) calls `moa_rt_fail`
    instead of reading out of bounds; dynamic sizes that disagree call
    `moa_rt_fail_sizes` with both sizes and the operands and dimensions they
    come from, and a `cf.assert` (as `moa-decompose` emits) calls
    `moa_rt_fail_message` with its message instead of aborting (see
    runtime/RuntimeABI.h). A GEMM of bf16 operands (projections, grouped
    GEMMs, attention scores; in the backward the input gradients G W^T, the
    projections' weight gradients and attention's S and dO V^T) packs its
    weight (or its transpose, or the input of a weight gradient),
    once per call (`moa_rt_pack_bf16`) and multiplies bf16 rows by it with
    f32 sums (`moa_rt_bf16_gemm`, natively where the CPU's bf16 kernels are
    faster); other f16 and bf16 operands are widened to f32 (f32
    accumulation) and results narrowed back. Elementwise linalg ops on
    contiguous buffers (casts, sums, fills) run their payload in parallel
    chunks; `math.exp` on f32 is expanded to a polynomial. Run
    `moa-decompose` first; a layer left over is an error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def MoAOmpParallelIf : Pass<"moa-omp-parallel-if", "::mlir::ModuleOp"> {
  let summary = "Fork an OpenMP team only for loops of more than one iteration";
  let description = [{
    Runs after `convert-scf-to-openmp`: every `omp.parallel` around one
    worksharing loop whose bounds are known before the region gets an `if`
    clause, true when the loop has more than one iteration. A parallel
    loop of one iteration (one tile of rows, one sequence of a decoding
    step) then runs on the calling thread instead of waking the team: a
    decoding step has a dozen such loops, and waking a sleeping thread for
    each costs more than the step's arithmetic (PyTorch's grain size does
    the same for small ops).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::omp::OpenMPDialect"
  ];
}

def MoAExpandBF16 : Pass<"moa-expand-bf16", "::mlir::ModuleOp"> {
  let summary = "bf16 conversions as integer arithmetic";
  let description = [{
    Runs on the CPU's loops, before `convert-arith-to-llvm`: every
    `arith.extf` from bf16 and `arith.truncf` to bf16 (round to nearest
    even, every NaN 0x7fc0) becomes shifts, adds and bitcasts on integers,
    which LLVM vectorises. Left as they are, a CPU without native bf16
    conversion calls `__truncsfbf2` once per element: a third of a
    mixed-precision training step's time. The widening is upstream's
    pattern; the narrowing replaces a NaN by the f32 quiet NaN before the
    rounding instead of selecting 0x7fc0 afterwards, as upstream does,
    because LLVM turns that select into one on bf16 vectors, which x86
    lowers a lane at a time (a bf16 layer ran 11% slower).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MoAOutlineKernels : Pass<"moa-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Move each kernel op into a private function of its own";
  let description = [{
    Runs on the buffer form, before `moa-lower-to-loops`: every moa op and
    every linalg op (the ops that become loop nests; not those whose region
    reads a value from outside the op) is replaced by a
    `func.call` of a private function that holds only that op. Ops of the
    same name, attributes, operand and result types share one function, so
    a model of N identical layers compiles its kernels once. The functions
    are `no_inline`: LLVM then optimises one kernel at a time instead of one
    function that grows with the model, which keeps compile time and memory
    linear in depth. An op already alone in a private function is left
    where it is, so the pass can run twice.
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect"
  ];
}

def MoAHoistResultBuffers : Pass<"moa-hoist-result-buffers", "::mlir::ModuleOp"> {
  let summary = "Let callers allocate the buffers private functions return";
  let description = [{
    Runs after `moa-lower-to-loops` and canonicalization (which folds the
    casts of the lowered allocations into their types), on the functions
    `moa-outline-kernels` made (any private function with one block and
    only calls for uses qualifies): a returned
    `memref.alloc` of the entry block whose sizes are computed from the
    arguments by pure ops (`memref.dim`, arith, constants) becomes an out
    parameter; every caller computes the sizes from its call operands and
    allocates the buffer itself. Results that do not qualify stay results.
    Buffer deallocation then sees plain allocations in the caller instead
    of call results that might alias anything, which keeps
    `buffer-deallocation-simplification` fast on deep models and lets it
    free without run-time alias checks.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def MoAExportEntryPoints : Pass<"moa-export-entry-points", "::mlir::ModuleOp"> {
  let summary = "Describe the public functions for the runtime";
  let description = [{
    Runs first, on tensors: every public `func.func` becomes an entry point
    (a nested module is an error: its functions would not be compiled).
    Its name, argument and result element types and shapes (with dynamic
    dimensions) are written to the module attribute `moa.manifest`, the text
    the runtime reads to check a call, the function gets
    `llvm.emit_c_interface`, and its arguments `bufferization.writable =
    false` (the caller's tensors are never written). Entry points take and
    return ranked tensors of f32, f16, bf16, i32 or i1 only, and their names
    use letters, digits, '_', '.' and '$' and do not start with 'moa_rt_';
    anything else is a located error. `moa.name` and `moa.init` string
    attributes of arguments and results go into the manifest (the runtime
    and moa-train read them) and are then removed. A result with
    `moa.tied = i` (a decoder's cache, see `moa-generate-decode`) is
    returned in the buffer of argument i, which the caller donates: the
    manifest records `tied=i`, argument i is `bufferization.writable`, and
    the result is materialized in it
    (`bufferization.materialize_in_destination`, a copy only where
    bufferization could not compute it in place).
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect"
  ];
}

def MoADropTiedResults : Pass<"moa-drop-tied-results", "::mlir::ModuleOp"> {
  let summary = "Return tied results in their donated argument buffers";
  let description = [{
    Runs on the CPU path right after One-Shot Bufferize (on the GPU path after
    `moa-gpu-host-boundary`, which copies a tied result back into its
    argument): a result of an
    entry point marked `moa.tied = i` is by then argument i's buffer
    (`moa-export-entry-points` materialized it there); it is removed from
    the function's results, so that buffer deallocation does not clone it
    on the way out, and the runtime hands the caller the donated argument
    as that result (the manifest's `tied=i`). A returned value that is not
    the argument itself is copied into it first. An entry point with tied
    results that another function calls is an error.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def MoAFinalizeMPI : Pass<"moa-finalize-mpi", "::mlir::ModuleOp"> {
  let summary = "Prepare upstream's MPI ops for moa's buffer and LLVM lowering";
  let description = [{
    Runs right after upstream's `convert-shard-to-mpi` on a module that
    `moa-data-parallel` made data parallel (`moa.ranks`):
    - a `mpi.comm_split` of `MPI_COMM_WORLD` with a color that is the same
      on every rank is the world itself when the grid is the whole world,
      which the runtime checks (the module's `moa.ranks` is the job's size);
      upstream splits on every call, and MPI_Comm_split allocates a
      communicator that nothing frees, so a training run would leak one per
      step: the split is replaced by the world;
    - upstream reduces a copy of the input into itself, which MPI forbids
      (send and receive buffers must not overlap): the input is sent from
      where it is into the fresh buffer, and the copy is dropped;
    - the `shard.grid` symbols, referred to by nothing once the collectives
      are MPI calls, are erased (they have no LLVM form);
    - upstream's MPI ops declare no memory effects, which buffer
      deallocation rejects: the pass attaches them to `mpi.allreduce`, the
      one moa emits (it reads its send buffer and writes its receive
      buffer).
  }];
}

def MoAConvertMPIToLLVM : Pass<"moa-convert-mpi-to-llvm", "::mlir::ModuleOp"> {
  let summary = "Upstream's MPI-to-LLVM patterns, with Open MPI's names";
  let description = [{
    Runs after `finalize-memref-to-llvm` on the CPU path: upstream's
    `mpi::populateMPIToLLVMConversionPatterns` turn the MPI ops into calls
    of the MPI library (the implementation from the module's DLTI entry
    `MPI:Implementation`); a module without MPI ops is left as it is (the
    pass does not need the MPI dialect loaded, unlike
    `convert-to-llvm{filter-dialects=mpi}`). Upstream (LLVM 22) refers to
    Open MPI's predefined reduction operations as `ompi_mpi_<op>`
    (`ompi_mpi_sum`), where Open MPI's `mpi.h` and libmpi name them
    `ompi_mpi_op_<op>` (`MPI_SUM` is `&ompi_mpi_op_sum`): a module with the
    upstream names does not load, so the external globals are renamed.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def MoAConvertMPIToGPURuntime
    : Pass<"moa-convert-mpi-to-gpu-runtime", "::mlir::ModuleOp"> {
  let summary = "All-reduces of device buffers as calls of the GPU runtime";
  let description = [{
    Runs on the GPU path after `moa-gpu-host-boundary`, where the buffers of
    a data-parallel step's `mpi.allreduce` (from `convert-shard-to-mpi` and
    `moa-finalize-mpi`) are device buffers, which MPI does not read. Each
    becomes a call of `moa_gpu_all_reduce_sum_f32(send, receive)` (C
    interface, one-dimensional f32 views): NCCL's all-reduce on CUDA
    (`runtime/cuda/Nccl.cpp`, its communicator made once from a unique id
    that rank 0 broadcasts over MPI), `MPI_Allreduce` on the host memory of
    the emulator and the mock. Upstream has no NCCL dialect; `gpu-async-region`
    makes the host wait for the kernels before the call, and the runtime
    waits for the all-reduce before it returns. Only sums of f32 buffers are
    supported (what `moa-data-parallel` emits); anything else is an error.
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect"
  ];
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

def MoALowerToGPU : Pass<"moa-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower moa primitives to gpu dialect kernels";
  let description = [{
    The GPU counterpart of `moa-lower-to-loops`, on the forward MoA layer
    after `moa-decompose` (and `moa-fuse`), in buffer form after One-Shot
    Bufferize or on tensors: each primitive becomes `gpu.launch` kernels
    whose results are device buffers (`gpu.alloc`), and the module becomes a
    `gpu.container_module`. In buffer form bufferization's buffers are
    placed on the device first (`memref.alloc` becomes `gpu.alloc`,
    `memref.copy` `gpu.memcpy`, globals are read from device copies and
    constant scalars inlined), and linalg ops write their output buffers
    where bufferization put them, in place or not: elementwise ops, fills,
    copies, transposes and broadcasts as one kernel with a thread per
    element (`linalg.fill` of 16/32-bit elements as `gpu.memset`), row
    projections as tiled GEMMs that add to what the output holds unless
    they are its first writer after a zero fill. `moa.project_route` (from `moa-fuse`) is one
    router kernel (a warp per 4 tokens: logits in f32, softmax statistics and
    top-k by warp shuffles, ties to the lower index), as is `moa.route` on
    given logits. `moa.dispatch` is a histogram (atomics), an exclusive scan and a
    stable scatter with one block per expert, all on the device.
    `moa.grouped_matmul`, `moa.key_value_projection` (one GEMM launch over
    both weights) and other row projections are tiled GEMMs (64x64x32 by
    default, one 32x32 square per warp) staged in shared memory, on the
    tensor cores when both operands are f16 or both bf16 (shared memory
    filled by `nvgpu.device_async_copy`, fragments read by `nvgpu.ldmatrix`,
    `nvgpu.mma.sync` m16n8k16 with f32 accumulation), on FMAs with the same
    fragment layout otherwise; the
    grouped ones find their expert tile from the dispatch offsets (the
    per-tile expert map) and fuse the gather, and the scatter or the
    gate-weighted combine (f32 atomics), into the GEMM. 
    `moa.multi_query_attention` is one flash-style kernel: the (token, slot)
    rows of a block share each tile of keys and values in shared memory,
    online softmax in registers, causal and key padding masks, no score
    matrix; f16/bf16 with h a multiple of 16 up to 128 on the tensor cores
    (FlashAttention-2's scheme with mma.sync; K and V tiles filled by
    cp.async and read by ldmatrix), otherwise on CUDA cores; it
    needs a static head size. No kernel copies to the host: invalid data
    and sizes that disagree are recorded in a device error word (attribute
    `moa.error_word`) that `moa-gpu-host-boundary` reports when the entry
    returns (a host `cf.assert` too, through a one-warp kernel); each routing is left as a `moa.record_routing` of the device
    indices for it.

    Whole models and their training steps: `moa.embedding` and
    `moa.layer_norm` (and their gradients), `moa.cross_entropy`, the four
    auxiliary losses and `moa.routing_statistics` (deterministic f64 block
    reductions, no atomics) and their gradients, `moa.route_grad`,
    `moa.grouped_matmul_grad`, `moa.multi_query_attention_grad` (scores
    recomputed from each query row's log-sum-exp), `moa.global_norm`,
    `moa.adamw`, and the weight gradients of row projections
    (`linalg.contract` as `moa-generate-gradients` emits it). Other moa ops
    and linalg ops are located errors.
  }];
  let options = [
    Option<"gemmRows", "gemm-rows", "int64_t", "64",
           "GEMM output rows per block (a multiple of 32)">,
    Option<"gemmCols", "gemm-cols", "int64_t", "64",
           "GEMM output columns per block (a multiple of 32)">,
    Option<"gemmDepth", "gemm-depth", "int64_t", "32",
           "GEMM k per shared-memory stage (a multiple of 16)">,
    Option<"attentionKeys", "attention-keys", "int64_t", "64",
           "keys per shared-memory tile of the tensor-core attention "
           "(a multiple of 16, at most 80)">,
    Option<"warpgroupMma", "warpgroup-mma", "bool", "false",
           "sm_90a: run the f16/bf16 GEMMs (with the 64x64 tiling) on wgmma "
           "in 64x128 tiles, their weights' tiles brought by TMA (weights "
           "whose last dimension is a static multiple of 8; others keep "
           "mma.sync), and attention with h a multiple of 64 on wgmma">,
    Option<"attentionSplitBelow", "attention-split-below", "int64_t", "106",
           "sm_90a attention: below this many blocks of 128 query rows, "
           "blocks of 64 rows whose two consumers split the keys (0.8 of "
           "an H100/H200 SXM's 132 SMs; 0: never, a large number: always)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def MoAGPUHostBoundary : Pass<"moa-gpu-host-boundary", "::mlir::ModuleOp"> {
  let summary = "Split GPU entries into a device entry and a host entry "
                "that copies around it";
  let description = [{
    Runs after bufferization on functions with GPU code. Each such entry
    `F` becomes two. `F__moa_device` (runtime/RuntimeABI.h's suffix) is the
    computation on device buffers, for callers that keep tensors on the
    device: a result tied to a donated argument (`moa.tied`) is written into
    that argument and dropped from its results, every other result is a
    device buffer of its own that the caller frees (a buffer the body
    allocated, else a copy), every other device buffer is freed, the host
    waits once, and a non-zero device error word (the `gpu.alloc` marked
    `moa.error_word` by `moa-lower-to-gpu`) is reported through
    `moa_rt_fail`. Each `moa.record_routing` of device indices becomes,
    when `moa_rt_wants_routing()` says the caller wants the head-usage
    record, a copy to the host and the runtime's `moa_rt_record_routing`.
    `F` itself copies the arguments the device entry reads to the device,
    calls it, copies its results (and tied arguments) back into host
    buffers and frees the device ones. A host `memref.alloc` left in such a
    function (a value no kernel produces) is a located error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def MoAGPUTensorMapArguments
    : Pass<"moa-gpu-tensor-map-arguments", "::mlir::ModuleOp"> {
  let summary = "Pass TMA tensor maps to outlined kernels as pointers";
  let description = [{
    Upstream's `convert-gpu-to-nvvm` cannot convert a `gpu.func` signature
    holding an `!nvgpu.tensormap.descriptor`: it fails to legalize the
    function (LLVM 22; `gpu-lower-to-nvvm-pipeline` only works for tensor
    maps captured by a `gpu.launch` it outlines itself, after
    `convert-nvgpu-to-nvvm` has made them pointers). This pass makes each
    such kernel argument the `!llvm.ptr` the map becomes, casts it back to
    the map at the kernel's entry, and casts each launch's operand to the
    pointer; `convert-nvgpu-to-nvvm` then leaves casts between pointers that
    `reconcile-unrealized-casts` removes. Run before that pipeline.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MOA_LOWERING_PASSES_TD
