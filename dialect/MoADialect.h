//===- MoADialect.h - moa dialect -------------------------------*- C++ -*-===//

#ifndef MOA_DIALECT_MOADIALECT_H
#define MOA_DIALECT_MOADIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"

#include "dialect/MoAOpsDialect.h.inc"

#endif // MOA_DIALECT_MOADIALECT_H
