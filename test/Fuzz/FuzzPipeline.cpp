//===- FuzzPipeline.cpp - libFuzzer target for moa-opt's pipeline ---------===//
//
// Any bytes as a module handed to moa-opt or moa-compile: parsed with the
// dialects moa-opt registers, verified, and a valid module run through
// moa-cpu-pipeline down to the LLVM dialect. No crash, no sanitizer report,
// and every failure says why: a parse, verifier or pass failure with no
// error diagnostic is a finding.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "tools/RegisterMoA.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>
#include <cstdlib>

using namespace mlir;

namespace {

const DialectRegistry &registry() {
  static const DialectRegistry *all = [] {
    auto *r = new DialectRegistry;
    registerAllDialects(*r);
    registerAllExtensions(*r);
    moa::registerAllDialects(*r);
    return r;
  }();
  return *all;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // The pipeline is text naming registered passes, as in moa-opt.
  registerAllPasses();
  moa::registerAllPasses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  bool reported = false;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    reported |= diagnostic.getSeverity() == DiagnosticSeverity::Error;
    return success(); // handled: libFuzzer's output stays short
  });
  // As moa-opt reads a file: a null-terminated copy in a source manager.
  llvm::SourceMgr sources;
  sources.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          StringRef(reinterpret_cast<const char *>(data), size), "input"),
      llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sources, &context);
  if (!module) {
    if (!reported)
      std::abort(); // rejected without a word
    return 0;
  }
  PassManager pm(&context);
  moa::buildCPUPipeline(pm);
  if (failed(pm.run(*module)) && !reported)
    std::abort(); // a pass failed without a word
  return 0;
}
