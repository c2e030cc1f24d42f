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
  return op->emitError() << "unknown moa attribute '" << name.getValue()
                         << "' (moa defines '"
                         << getErrorWordAttrHelper().getName().getValue()
                         << "' and '"
                         << getManifestAttrHelper().getName().getValue()
                         << "' on ops)";
}

FailureOr<std::optional<unsigned>>
mlir::moa::getTiedArgument(FunctionOpInterface func, unsigned index) {
  Attribute attr = func.getResultAttr(index, kTiedAttrName);
  if (!attr)
    return std::optional<unsigned>();
  auto tiedTo = [&](unsigned result) -> std::optional<int64_t> {
    auto arg = dyn_cast_or_null<IntegerAttr>(
        func.getResultAttr(result, kTiedAttrName));
    return arg ? std::optional(arg.getInt()) : std::nullopt;
  };
  std::optional<int64_t> arg = tiedTo(index);
  bool valid = arg && *arg >= 0 && *arg < func.getNumArguments() &&
               func.getArgumentTypes()[*arg] == func.getResultTypes()[index];
  for (unsigned other = 0; valid && other < index; ++other)
    valid = tiedTo(other) != arg;
  if (!valid)
    return func.emitError()
           << "@" << func.getName() << " result " << index << ": '"
           << kTiedAttrName
           << "' must be the index of an argument of the result's type that "
              "no other result is tied to";
  return std::optional<unsigned>(*arg);
}
