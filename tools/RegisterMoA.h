//===- RegisterMoA.h - Register moa with a tool -----------------*- C++ -*-===//
//
// The one header every moa tool (and every pipeline that embeds moa) includes
// to register the moa dialect and passes.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TOOLS_REGISTERMOA_H
#define MOA_TOOLS_REGISTERMOA_H

#include "dialect/MoAOps.h"
#include "lowering/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "passes/Passes.h"

namespace mlir::moa {

/// Adds the moa dialect and the upstream dialects its passes create. (The
/// dialect attaches its own BufferizableOpInterface models; the gradient
/// passes bring the gradient rules of upstream ops.)
inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<MoADialect, arith::ArithDialect,
                  bufferization::BufferizationDialect, func::FuncDialect,
                  linalg::LinalgDialect, memref::MemRefDialect,
                  tensor::TensorDialect>();
}

/// Registers every moa pass and pipeline with the global pass registry.
inline void registerAllPasses() {
  registerMoAPasses();
  registerLoweringPasses();
}

} // namespace mlir::moa

#endif // MOA_TOOLS_REGISTERMOA_H
