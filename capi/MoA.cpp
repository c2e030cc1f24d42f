//===- MoA.cpp - C API for the moa dialect and passes ---------------------===//

#include "capi/MoA.h"
#include "dialect/MoAOps.h"
#include "mlir/CAPI/Registration.h"
#include "tools/RegisterMoA.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(MoA, moa, mlir::moa::MoADialect)

void mlirRegisterMoAPasses(void) { mlir::moa::registerAllPasses(); }
