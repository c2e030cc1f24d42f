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
      "::mlir::moa::OpCost", "getCost">
  ];
}

#endif // MOA_DIALECT_MOAINTERFACES_TD
