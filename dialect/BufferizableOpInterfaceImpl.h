//===- BufferizableOpInterfaceImpl.h - moa ops in One-Shot Bufferize -*- C++
//-*-===//

#ifndef MOA_DIALECT_BUFFERIZABLEOPINTERFACEIMPL_H
#define MOA_DIALECT_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class MLIRContext;
namespace moa {
/// Attaches BufferizableOpInterface to every moa op with a buffer form, so
/// that upstream One-Shot Bufferize turns it into the same op on memrefs.
/// The dialect does it when it is loaded (MoADialect::initialize).
void attachBufferizableOpInterfaceModels(MLIRContext *ctx);
} // namespace moa
} // namespace mlir

#endif // MOA_DIALECT_BUFFERIZABLEOPINTERFACEIMPL_H
