//===- MoADialect.cpp - moa dialect registration --------------------------===//

#include "dialect/MoADialect.h"
#include "dialect/BufferizableOpInterfaceImpl.h"
#include "dialect/MoAOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::moa;

#include "dialect/MoAOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/MoAOpsAttrDefs.cpp.inc"

void MoADialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/MoAOpsAttrDefs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/MoAOps.cpp.inc"
      >();
  attachBufferizableOpInterfaceModels(getContext());
}

LogicalResult MoADialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  StringAttr name = attribute.getName();
  if (name == getErrorWordAttrHelper().getName()) {
    // The buffer is the first result (an async gpu.alloc adds a token).
    auto type = op->getNumResults()
                    ? dyn_cast<MemRefType>(op->getResult(0).getType())
                    : MemRefType();
    if (!isa<UnitAttr>(attribute.getValue()) || !type ||
        type.getShape() != ArrayRef<int64_t>{1} ||
        !type.getElementType().isInteger(32))
      return op->emitError()
             << "'" << name.getValue()
             << "' must be a unit attribute on an op whose first result "
                "is the error word, a memref<1xi32>";
    return success();
  }
  if (name == getManifestAttrHelper().getName()) {
    if (!isa<ModuleOp>(op) || !isa<StringAttr>(attribute.getValue()))
      return op->emitError() << "'" << name.getValue()
                             << "' must be a string attribute of a module";
    return success();
  }
  if (name == getAssertionAttrHelper().getName()) {
    auto pair = dyn_cast<ArrayAttr>(attribute.getValue());
    if (!pair || pair.size() != 2 || !isa<IntegerAttr>(pair[0]) ||
        !isa<StringAttr>(pair[1]))
      return op->emitError() << "'" << name.getValue()
                             << "' must be [code, message]: an integer and "
                                "a string";
    return success();
  }
  if (name == getRanksAttrHelper().getName()) {
    auto ranks = dyn_cast<IntegerAttr>(attribute.getValue());
    if (!isa<ModuleOp>(op) || !ranks || ranks.getInt() < 1)
      return op->emitError() << "'" << name.getValue()
                             << "' must be a positive integer attribute of a "
                                "module";
    return success();
  }
  return op->emitError() << "unknown moa attribute '" << name.getValue()
                         << "' (moa defines '"
                         << getErrorWordAttrHelper().getName().getValue()
                         << "', '"
                         << getManifestAttrHelper().getName().getValue()
                         << "' and '"
                         << getRanksAttrHelper().getName().getValue()
                         << "' on ops)";
}

LogicalResult mlir::moa::getTiedArgument(FunctionOpInterface func,
                                         unsigned index,
                                         std::optional<unsigned> &arg) {
  arg.reset();
  if (!func.getResultAttr(index, kTiedAttrName))
    return success();
  auto tiedTo = [&](unsigned result) -> std::optional<int64_t> {
    auto attr = dyn_cast_or_null<IntegerAttr>(
        func.getResultAttr(result, kTiedAttrName));
    return attr ? std::optional(attr.getInt()) : std::nullopt;
  };
  std::optional<int64_t> tied = tiedTo(index);
  bool valid = tied && *tied >= 0 && *tied < func.getNumArguments() &&
               func.getArgumentTypes()[*tied] == func.getResultTypes()[index];
  for (unsigned other = 0; valid && other < index; ++other)
    valid = tiedTo(other) != tied;
  if (!valid)
    return func.emitError()
           << "@" << func.getName() << " result " << index << ": '"
           << kTiedAttrName
           << "' must be the index of an argument of the result's type that "
              "no other result is tied to";
  arg = unsigned(*tied);
  return success();
}
