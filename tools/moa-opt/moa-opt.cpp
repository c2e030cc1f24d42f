//===- moa-opt.cpp - mlir-opt with the moa dialect and passes -------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "test/lib/GPUEmulator/Passes.h"
#include "tools/RegisterMoA.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::moa::registerAllPasses();
  // Test passes, as mlir-opt registers upstream's.
  mlir::moa::test::registerTestPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::moa::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "moa optimizer driver: the moa dialect and passes\n",
      registry));
}
