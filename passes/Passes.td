//===- Passes.td - moa passes ------------------------------*- tablegen -*-===//

#ifndef MOA_PASSES_PASSES_TD
#define MOA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoADecompose : Pass<"moa-decompose"> {
  let summary = "Decompose the attention layers into moa primitives and linalg";
  let description = [{
    Rewrites every `moa.mixture_attention` into the router projection
    (`linalg.contract` into f32), `moa.route`, `moa.dispatch`, the query
    `moa.grouped_matmul` (gather by token, scatter per slot), the shared key
    and value projections (`linalg.contract`), `moa.multi_query_attention`,
    and the output `moa.grouped_matmul` with the gate-weighted combine. The
    router logits result is the contraction's result. Every
    `moa.multi_head_attention` becomes row projections of all heads at once
    (weights [d, H, h] collapsed to [d, H*h]), the heads folded into the
    batch (`tensor.expand_shape`, `linalg.transpose`,
    `tensor.collapse_shape`: [B, T, H*h] -> [B*H, T, h]), one
    `moa.multi_query_attention` with one query slot over the [B*H] sequences
    (the key padding mask broadcast to the heads), the heads unfolded and the
    output projection. Where x's model
    dimension d and that of the memory or of `w_out` are not both static
    (so the verifier could not compare them), a `cf.assert` checks them at
    run time, since no op of the decomposition does (moa-lower-to-loops and
    moa-lower-to-gpu turn it into a runtime error). Upstream linalg ops
    that are compositions of others (`linalg.softmax`, through
    `AggregatedOpInterface`) become those ops too, which the lowerings
    handle. Works on any op that holds such layers (usually a `func.func` or
    the module).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoAFuse : Pass<"moa-fuse"> {
  let summary = "Fuse the decomposed MoA layer into moa's fused ops";
  let description = [{
    After `moa-decompose`, on tensors: the router projection (a
    `linalg.contract` row projection with a zero init) and the `moa.route`
    of its result become one `moa.project_route`; the key and value
    projections of a `moa.multi_query_attention` (two zero-init row
    projections of the same input with weights of one type) become one
    `moa.key_value_projection`; and a scatter `moa.grouped_matmul` ([B, T,
    k, N]) summed over its k slots with f32 gates by a `linalg.contract`
    becomes the grouped matmul's gate-weighted combine (`gates(...)`), which
    is what `moa-decompose` itself emits. The CPU and GPU pipelines run it
    after `moa-decompose`; `moa.project_route` and
    `moa.key_value_projection` report the same MACs to `moa-cost` as the
    projections they replace (the written-out combine's B*T*k*N
    multiply-adds are not counted once fused, as in `moa-decompose`'s own
    form). Run it after `moa-generate-gradients`
    (the fused ops have no gradient rules).
  }];
}

def MoAFuseElementwise : Pass<"moa-fuse-elementwise"> {
  let summary = "Fuse chains of elementwise linalg ops on tensors into one";
  let description = [{
    Elementwise linalg ops whose operands all span the iteration space
    (identity indexing maps; not `linalg.fill`) are fused, producer into
    consumer, by upstream's `fuseElementwiseOps` where the producer's
    result is an input of the consumer and its only use, in the same block
    (so nothing is computed twice or moved into a loop); named ones
    (`linalg.add`, ...) become `linalg.generic` first where they would
    fuse, and keep their names otherwise. A
    mixed-precision adjoint, a cast to bf16 and back at each rounding point
    and then the sums, becomes one loop that reads its inputs once and
    writes once, instead of one pass over memory per op; each element is
    computed by the same operations in the same order. The CPU pipeline
    runs it on tensors after `convert-elementwise-to-linalg`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def MoACost : Pass<"moa-cost", "::mlir::ModuleOp"> {
  let summary = "Report multiply-accumulates and parameters per op and function";
  let description = [{
    An analysis that prints, for every function, one line per costed op and a
    total: multiply-accumulates (MACs) and parameters. moa ops report the
    terms of moa-spec.md's cost model (MACs per query token, per key token,
    per query-key pair) with their totals when shapes are static; linalg
    contraction ops (matmul family, `linalg.contract` and contraction
    generics) report the product of their loop ranges. An input of a
    contraction counts as a parameter when its indexing map does not use the
    loop that indexes the result's first dimension (`W` in `x W`). Parameters
    are counted once per function however often they are used. The IR is
    left unchanged; the report goes to stderr or to `output`.
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"\"-\"",
           "Where to write the report ('-' for stderr)">
  ];
}

def MoAGenerateGradients : Pass<"moa-generate-gradients", "::mlir::ModuleOp"> {
  let summary = "Add the gradient function of public functions";
  let description = [{
    For a public function `@f(args) -> (results)` adds
    `@f_grad(args, d_results) -> (d_args)`: one adjoint argument per float
    tensor result and one gradient per float tensor argument (integer
    arguments such as token ids or masks get none). The gradient is reverse
    mode over the function's single block after decomposing
    `moa.mixture_attention`: the body is replayed, then every op's adjoint is
    emitted in reverse order. No gradient flows through the top-k indices;
    gate gradients flow through the router softmax; grouped-matmul weight
    gradients are summed over expert-grouped rows; attention backward
    recomputes the scores. Differentiable ops: the moa ops, row projections
    (`linalg.contract` as moa-decompose emits them), `linalg.add`,
    `linalg.sub`, `linalg.mul`, `linalg.max`, and `arith.addf`, `arith.subf`,
    `arith.mulf` on tensors, and the model ops `moa.layer_norm`,
    `moa.embedding`, `moa.cross_entropy`, and `arith.truncf` / `arith.extf`
    on tensors; constants and fills have no gradient. Adjoints accumulate
    in f32 (those of bf16 values too). Any other op on a path to a result is
    an error naming it.

    With `mixed-precision=bf16` the function is first rewritten as PyTorch's
    autocast would run it: row projections (except the router's, whose
    result feeds `moa.route`), `moa.grouped_matmul` and
    `moa.multi_query_attention` read bf16 operands and write bf16 results
    (accumulating in f32); every other op, the parameters and the returned
    values stay f32. The backward rounds to bf16 only at the inputs and
    outputs of the bf16 backward ops; row-projection weight gradients stay
    f32, grouped-matmul weight gradients are rounded to bf16.
  }];
  let options = [
    ListOption<"functions", "functions", "std::string",
               "Functions to differentiate (default: every public function)">,
    Option<"mixedPrecision", "mixed-precision", "std::string",
           /*default=*/"\"none\"",
           "none, or bf16: GEMMs and attention in bf16, the rest in f32">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def MoAGenerateTrainStep : Pass<"moa-generate-train-step", "::mlir::ModuleOp"> {
  let summary = "Add a training step (forward, backward, AdamW) for a loss function";
  let description = [{
    For `@f` whose first result is a scalar loss (`tensor<f32>`) and whose
    trainable arguments carry `moa.param = "<name>"`, adds
    `@f_train_step(params, first moments, second moments, step, data) ->
    (results of f, grad_norm, new params, new first moments, new second
    moments)`, where `data` are the other arguments of `@f` in order and
    `step` (`tensor<f32>`) counts from 1. One entry point runs the forward
    pass, the gradient of the loss, the global gradient norm
    (`moa.global_norm`) and one `moa.adamw` per parameter, so a training
    step is a single call. Arguments and results get `moa.name` attributes
    (`p.<name>`, `m.<name>`, `v.<name>`, `step`, `grad_norm`) that the
    manifest carries to the runtime; `moa.init` on a parameter is passed on.
    Each new parameter and moment is tied (`moa.tied`) to its argument: a
    caller that donates its state (`Module::runDonating`, as `moa-train`
    does) has it updated in place, one copy of the model and its moments on
    the CPU or the GPU; `Module::run` copies the state first instead.
    `mixed-precision=bf16` differentiates the loss in mixed precision (as
    moa-generate-gradients does); parameters, moments and AdamW stay f32.
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss\"",
           "The loss function">,
    Option<"lr", "lr", "float", /*default=*/"7.0e-4",
           "Peak learning rate (official MoA: 7e-4)">,
    Option<"beta1", "beta1", "float", /*default=*/"0.9", "Adam beta1">,
    Option<"beta2", "beta2", "float", /*default=*/"0.98",
           "Adam beta2 (official MoA: 0.98)">,
    Option<"epsilon", "epsilon", "float", /*default=*/"1.0e-8", "Adam epsilon">,
    Option<"weightDecay", "weight-decay", "float", /*default=*/"0.0",
           "Decoupled weight decay">,
    Option<"warmupSteps", "warmup-steps", "int64_t", /*default=*/"4000",
           "Inverse square-root schedule warm-up (0: constant rate)">,
    Option<"maxGradNorm", "max-grad-norm", "float", /*default=*/"0.0",
           "Clip gradients to this global norm (0: no clipping)">,
    Option<"mixedPrecision", "mixed-precision", "std::string",
           /*default=*/"\"none\"",
           "none, or bf16: GEMMs and attention in bf16 over f32 master "
           "weights and optimizer state (see moa-generate-gradients)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def MoADataParallel : Pass<"moa-data-parallel", "::mlir::ModuleOp"> {
  let summary = "Make a training step data parallel over the ranks of an MPI job";
  let description = [{
    Rewrites `@<function>_train_step` (from moa-generate-train-step) so that
    `axis-size` processes, each given its slice of the global batch, take
    the same step as one process given all of it. With upstream's `shard`
    dialect: a grid `@moa_data` of `axis-size` ranks, and
    - the gradients of all parameters and the scalar f32 results (the loss
      and its parts) packed into one flat bucket, summed over the grid by
      one `shard.all_reduce` and divided by `axis-size` (the mean of the
      per-rank gradients, as PyTorch's DistributedDataParallel) before the
      global norm, the clip and AdamW; parameters stay replicated;
    - the load-balancing loss made that of the global batch: each rank's
      `moa.routing_statistics` are all-reduced and given to the loss and its
      gradient (`statistics`), whose seed is scaled by `axis-size` so that
      the mean of the ranks' gradients is the global loss's gradient.
    The router's other batch-level losses (mutual information, importance
    CV) are rejected: they would be per rank. The module is marked for the
    runtime (`moa.ranks`) and for upstream's MPI lowering (the DLTI entry
    `MPI:Implementation` = `"OpenMPI"`, Debian's MPI).
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss\"",
           "The loss function whose training step is made data parallel">,
    Option<"axisSize", "axis-size", "int64_t", /*default=*/"2",
           "Ranks of the job (mpirun -np)">
  ];
  let dependentDialects = [
    "::mlir::shard::ShardDialect",
    "::mlir::DLTIDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def MoAGenerateDecode : Pass<"moa-generate-decode", "::mlir::ModuleOp"> {
  let summary = "Add a prefill and a one-token decode entry with key/value caches";
  let description = [{
    For a model written as its loss function `@f` (option `function`),
    whose result named `logits` (`moa.name`) is [B, T, V], whose token ids
    are the argument named `tokens` (i32 [B, T]) and, if it has one, whose
    positions are the argument named `positions`, adds

    - `@f_prefill(params..., tokens [B, T], positions [B, T], lengths [B])
      -> (logits [B, V], caches...)`: the model on prompts right-padded to
      T, `lengths` the number of real tokens of each (1 to T); the logits
      are those of each prompt's last real token, and each causal
      self-attention `moa.mixture_attention` leaves its keys and values in
      a cache of `max-length` rows (`moa.cache_write`) while attending as
      before (`moa.multi_query_attention`, flash-style);
    - `@f_decode(params..., tokens [B, 1], positions [B, 1], caches...,
      lengths [B]) -> (logits [B, V], caches...)`: one new token per
      sequence, `lengths` the number of tokens each sequence already has in
      its caches (where the new token's key and value go); each layer
      writes its new key and value into its caches and attends over them
      (`moa.cached_attention`). The caches are donated: each cache result
      carries `moa.tied` (the argument it is returned in), so that they are
      updated in place, never copied per step.

    Each layer has two caches, keys and values [B, max-length, h] of the
    activations' element type, named `cache.<i>.key` and `cache.<i>.value`
    in layer order: MoA's one shared key/value head makes them d/h times
    smaller than multi-head attention's of the same width d. The loss,
    the auxiliary losses and every op the logits do not depend on are left
    out; parameters (`moa.param`) keep their order and are named
    `p.<name>`, as in `moa-generate-train-step`'s checkpoints. Layers must
    be causal self-attention without padding masks (a located error
    otherwise); other data arguments must not feed the logits.
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss\"",
           "The model's loss function">,
    Option<"maxLength", "max-length", "int64_t", /*default=*/"2048",
           "Rows of each cache: the longest sequence (prompt and generated "
           "tokens) it can hold">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // MOA_PASSES_PASSES_TD
