// An opt tool of another project: its own dialects plus moa, registered with
// the two calls an installed moa provides.
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "tools/RegisterMoA.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect>();
  mlir::moa::registerAllDialects(registry);
  mlir::moa::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "moa consumer\n", registry));
}
