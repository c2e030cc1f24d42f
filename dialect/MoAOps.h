//===- MoAOps.h - moa dialect ops -------------------------------*- C++ -*-===//

#ifndef MOA_DIALECT_MOAOPS_H
#define MOA_DIALECT_MOAOPS_H

#include "dialect/Cost.h"
#include "dialect/MoADialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moa {
/// The memory effects of an op that works on tensors and on buffers: none
/// on tensors; on memrefs it reads its operands and allocates its results.
void getBufferFormEffects(
    Operation *op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects);
/// Operands and results are all tensors or all memrefs.
LogicalResult verifyOneShapedForm(Operation *op);
/// Every attribute is the op's own or namespaced by a dialect.
LogicalResult verifyNoStrayAttributes(Operation *op);
} // namespace mlir::moa

namespace mlir::OpTrait::moa {
/// The trait of ops with a tensor and a buffer form (MoA_BufferizableOp).
template <typename ConcreteType>
class OneShapedForm : public TraitBase<ConcreteType, OneShapedForm> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return ::mlir::moa::verifyOneShapedForm(op);
  }
};
/// The trait of every moa op (MoA_Op): see verifyNoStrayAttributes.
template <typename ConcreteType>
class NoStrayAttributes : public TraitBase<ConcreteType, NoStrayAttributes> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return ::mlir::moa::verifyNoStrayAttributes(op);
  }
};
} // namespace mlir::OpTrait::moa

#include "dialect/MoAOpsEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/MoAOpsAttrDefs.h.inc"

#include "dialect/MoAInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialect/MoAOps.h.inc"

#endif // MOA_DIALECT_MOAOPS_H
