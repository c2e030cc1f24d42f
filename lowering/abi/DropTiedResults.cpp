//===- DropTiedResults.cpp - tied results stay in their arguments ---------===//
//
// After bufferization a result tied to a donated argument (moa.tied) is that
// argument's buffer; returning it would make buffer deallocation clone it.
// The result is dropped instead and the runtime hands the caller the
// argument (the manifest's tied=).
//
//===----------------------------------------------------------------------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOADROPTIEDRESULTS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

/// Drops the tied results of `func`; fails if it is called.
LogicalResult dropTiedResults(func::FuncOp func, ModuleOp module) {
  llvm::BitVector tied(func.getNumResults());
  SmallVector<unsigned> argOf(func.getNumResults());
  for (unsigned r = 0; r < func.getNumResults(); ++r) {
    std::optional<unsigned> arg;
    if (failed(mlir::moa::getTiedArgument(func, r, arg)))
      return failure();
    tied[r] = arg.has_value();
    argOf[r] = arg.value_or(0);
  }
  if (tied.none())
    return success();
  if (!SymbolTable::symbolKnownUseEmpty(func, module))
    return func.emitError() << "@" << func.getSymName()
                            << " returns results tied to donated arguments "
                               "(moa.tied) and must not be called";
  WalkResult walk = func.walk([&](func::ReturnOp ret) {
    OpBuilder b(ret);
    for (int r : tied.set_bits()) {
      Value buffer = func.getArgument(argOf[r]);
      Value returned = ret.getOperand(r);
      if (!isa<MemRefType>(returned.getType())) {
        ret.emitError("moa-drop-tied-results runs after bufferization");
        return WalkResult::interrupt();
      }
      if (returned != buffer)
        memref::CopyOp::create(b, ret.getLoc(), returned, buffer);
    }
    ret->eraseOperands(tied);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  return func.eraseResults(tied);
}

struct MoADropTiedResultsPass
    : public mlir::moa::impl::MoADropTiedResultsBase<MoADropTiedResultsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (!func.isExternal() && failed(dropTiedResults(func, module)))
        return signalPassFailure();
  }
};

} // namespace
