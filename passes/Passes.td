//===- Passes.td - moa passes ------------------------------*- tablegen -*-===//

#ifndef MOA_PASSES_PASSES_TD
#define MOA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoADecompose : Pass<"moa-decompose"> {
  let summary = "Decompose moa.mixture_attention into moa primitives and linalg";
  let description = [{
    Rewrites every `moa.mixture_attention` into the router projection
    (`linalg.contract` into f32), `moa.route`, `moa.dispatch`, the query
    `moa.grouped_matmul` (gather by token, scatter per slot), the shared key
    and value projections (`linalg.contract`), `moa.multi_query_attention`,
    and the output `moa.grouped_matmul` with the gate-weighted combine. The
    router logits result is the contraction's result. Works on any op that
    holds such layers (usually a `func.func` or the module).
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
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

#endif // MOA_PASSES_PASSES_TD
