//===- MoAInterfaces.td - moa op interfaces ----------------*- tablegen -*-===//

#ifndef MOA_DIALECT_MOAINTERFACES_TD
#define MOA_DIALECT_MOAINTERFACES_TD

include "mlir/IR/OpBase.td"

def MoA_CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::mlir::moa";
  let description = [{
    Ops that know their multiply-accumulate count and which operands are
    parameters. The cost is split the way moa-spec.md's cost model is: MACs per
    query token, per key token and per (query, key) pair, so it stays
    meaningful when batch and sequence lengths are dynamic.
  }];
  let methods = [
    InterfaceMethod<
      "Returns the op's MAC terms and the operands that are parameters.",
      "::mlir::moa::OpCost", "getCost", (ins), [{}],
      /*defaultImplementation=*/[{ return {}; }]>
  ];
}

def MoA_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::moa";
  let description = [{
    The reverse-mode rule of an op, as moa-generate-gradients applies it:
    given the adjoints of the op's results it emits, at the builder's
    insertion point, the adjoints of its operands. moa's forward ops
    implement it (their rules create the moa backward ops); the upstream ops
    moa differentiates (row-projection `linalg.contract`, `linalg.add`,
    `sub`, `mul`, `max`, scalar `arith.addf`, `subf`, `mulf`,
    `linalg.transpose`, `tensor.expand_shape`, `tensor.collapse_shape`, and
    the sources `linalg.fill`, `tensor.empty`, `arith.constant`) get external
    models (passes/GradientModels.cpp). An op without it stops
    differentiation with a located error naming it.
  }];
  let methods = [
    InterfaceMethod<[{
        Emits the adjoints of the operands for the result adjoints
        `resultAdjoints` (one per result; null where nothing flows back).
        `operandAdjoints` comes with one null entry per operand; the rule sets
        those that receive a gradient. Fails with a diagnostic at the op if
        the op cannot be differentiated as it is.
      }],
      "::mlir::LogicalResult", "emitAdjoints",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ArrayRef<::mlir::Value>":$resultAdjoints,
           "::llvm::MutableArrayRef<::mlir::Value>":$operandAdjoints)>
  ];
}

#endif // MOA_DIALECT_MOAINTERFACES_TD
