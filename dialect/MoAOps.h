//===- MoAOps.h - moa dialect ops -------------------------------*- C++ -*-===//

#ifndef MOA_DIALECT_MOAOPS_H
#define MOA_DIALECT_MOAOPS_H

#include "dialect/Cost.h"
#include "dialect/MoADialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/MoAOpsEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/MoAOpsAttrDefs.h.inc"

#include "dialect/MoAInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialect/MoAOps.h.inc"

#endif // MOA_DIALECT_MOAOPS_H
