/*===- moa-capi-test.c - The moa C API from plain C -----------------------===*\
|* Registers moa through its dialect handle, parses a module with a layer,    *|
|* runs moa-decompose through a parsed pipeline and prints the result; then   *|
|* checks that a malformed module is rejected. FileCheck reads the output.    *|
\*===----------------------------------------------------------------------===*/

#include "capi/MoA.h"
#include "mlir-c/Dialect/Func.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#include <stdio.h>
#include <string.h>

static void printToStdout(MlirStringRef text, void *userData) {
  (void)userData;
  fwrite(text.data, 1, text.length, stdout);
}

static const char *kLayer =
    "func.func @layer(%x: tensor<?x?x16xf32>, %wg: tensor<16x4xf32>,\n"
    "    %wq: tensor<4x16x8xf32>, %wk: tensor<16x8xf32>, %wv: "
    "tensor<16x8xf32>,\n"
    "    %wo: tensor<4x8x16xf32>) -> tensor<?x?x16xf32> {\n"
    "  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k(2)\n"
    "      : tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<4x16x8xf32>,\n"
    "        tensor<16x8xf32>, tensor<16x8xf32>, tensor<4x8x16xf32>\n"
    "  return %y : tensor<?x?x16xf32>\n"
    "}\n";

static const char *kBadLayer =
    "func.func @bad(%l: tensor<?x?x4xf32>) {\n"
    "  %i, %g = moa.route %l k(9) : tensor<?x?x4xf32>\n"
    "  return\n"
    "}\n";

int main(void) {
  MlirContext ctx = mlirContextCreate();
  MlirDialectHandle moa = mlirGetDialectHandle__moa__();
  mlirDialectHandleRegisterDialect(moa, ctx);
  mlirDialectHandleRegisterDialect(mlirGetDialectHandle__func__(), ctx);
  mlirRegisterMoAPasses();

  MlirStringRef ns = mlirDialectHandleGetNamespace(moa);
  printf("namespace: %.*s\n", (int)ns.length, ns.data);

  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kLayer));
  if (mlirModuleIsNull(module)) {
    fprintf(stderr, "failed to parse the layer\n");
    return 1;
  }

  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm, mlirStringRefCreateFromCString("builtin.module(moa-decompose)"),
      printToStdout, NULL);
  if (mlirLogicalResultIsFailure(parsed)) {
    fprintf(stderr, "moa-decompose is not registered\n");
    return 1;
  }
  if (mlirLogicalResultIsFailure(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module)))) {
    fprintf(stderr, "moa-decompose failed\n");
    return 1;
  }
  mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);
  printf("\n");
  fflush(stdout); /* the parser's diagnostic goes to stderr */

  MlirModule bad =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kBadLayer));
  printf("malformed module rejected: %s\n",
         mlirModuleIsNull(bad) ? "yes" : "no");

  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}
