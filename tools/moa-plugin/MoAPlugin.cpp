//===- MoAPlugin.cpp - moa as a dialect and pass plugin for mlir-opt ------===//
//
//   mlir-opt --load-dialect-plugin=libMoAPlugin.so
//            --load-pass-plugin=libMoAPlugin.so --pass-pipeline=...
//
//===----------------------------------------------------------------------===//

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "tools/RegisterMoA.h"
#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoA", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            mlir::moa::registerAllDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoA", LLVM_VERSION_STRING,
          []() { mlir::moa::registerAllPasses(); }};
}
