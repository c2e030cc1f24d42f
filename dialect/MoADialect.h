//===- MoADialect.h - moa dialect -------------------------------*- C++ -*-===//

#ifndef MOA_DIALECT_MOADIALECT_H
#define MOA_DIALECT_MOADIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "dialect/MoAOpsDialect.h.inc"

namespace mlir::moa {
/// Argument and result attributes of the functions moa compiles: what the
/// manifest names a tensor (`moa.name`), a trained parameter and its
/// initialisation (`moa.param`, `moa.init`), and a result returned in the
/// buffer of a donated argument (`moa.tied`, the argument's index).
constexpr llvm::StringLiteral kNameAttrName = "moa.name";
constexpr llvm::StringLiteral kParamAttrName = "moa.param";
constexpr llvm::StringLiteral kInitAttrName = "moa.init";
constexpr llvm::StringLiteral kTiedAttrName = "moa.tied";
/// On a module made data parallel (moa-data-parallel): the number of MPI
/// ranks its collectives expect, which the manifest tells the runtime.
constexpr llvm::StringLiteral kRanksAttrName = "moa.ranks";

/// Sets `arg` to the argument result `index` of `func` is returned in (its
/// `moa.tied`), or nullopt if it is not tied; a located error unless the
/// attribute is the index of an argument of the result's type that no other
/// result is tied to.
LogicalResult getTiedArgument(FunctionOpInterface func, unsigned index,
                              std::optional<unsigned> &arg);
} // namespace mlir::moa

#endif // MOA_DIALECT_MOADIALECT_H
