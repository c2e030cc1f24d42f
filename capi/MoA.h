/*===- MoA.h - C API for the moa dialect and passes ---------------*- C -*-===*\
|*                                                                            *|
|* Register the moa dialect with an MLIR C API context and the moa passes     *|
|* with the global registry (so mlirParsePassPipeline knows them).            *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOA_CAPI_MOA_H
#define MOA_CAPI_MOA_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(MoA, moa);

/// Registers every moa pass (moa-decompose, moa-cost, ...).
MLIR_CAPI_EXPORTED void mlirRegisterMoAPasses(void);

#ifdef __cplusplus
}
#endif

#endif // MOA_CAPI_MOA_H
