//===- MoADialect.cpp - moa dialect registration --------------------------===//

#include "dialect/MoADialect.h"
#include "dialect/MoAOps.h"
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
}
