//===- EmitRuntimeABI.cpp - Manifest global and packed entry wrappers -----===//

#include "lowering/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAEMITRUNTIMEABI
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

struct MoAEmitRuntimeABIPass
    : public mlir::moa::impl::MoAEmitRuntimeABIBase<MoAEmitRuntimeABIPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto manifest = module->getAttrOfType<StringAttr>("moa.manifest");
    if (!manifest) {
      emitError(module.getLoc(),
                "no moa.manifest: run moa-export-entry-points first");
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();

    std::string text = manifest.getValue().str();
    text.push_back('\0');
    auto arrayType =
        LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size());
    LLVM::GlobalOp::create(b, loc, arrayType, /*isConstant=*/true,
                           LLVM::Linkage::External, "moa_manifest",
                           b.getStringAttr(text));

    // void moa_entry_F(void **args) { _mlir_ciface_F(args[0], args[1], ...); }
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    SmallVector<LLVM::LLVMFuncOp> interfaces;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>())
      if (func.getName().starts_with("_mlir_ciface_") && !func.isExternal())
        interfaces.push_back(func);
    for (LLVM::LLVMFuncOp callee : interfaces) {
      StringRef name = callee.getName().drop_front(strlen("_mlir_ciface_"));
      if (name.starts_with("moa_rt_"))
        continue;
      auto wrapperType =
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType});
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, loc, ("moa_entry_" + name).str(), wrapperType);
      Block *body = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(body);
      SmallVector<Value> operands;
      for (unsigned i = 0, e = callee.getNumArguments(); i < e; ++i) {
        Value slot =
            LLVM::GEPOp::create(b, loc, ptrType, ptrType, body->getArgument(0),
                                ArrayRef<LLVM::GEPArg>{int32_t(i)});
        operands.push_back(LLVM::LoadOp::create(b, loc, ptrType, slot));
      }
      LLVM::CallOp::create(b, loc, callee, operands);
      LLVM::ReturnOp::create(b, loc, ValueRange());
    }
    module->removeAttr("moa.manifest");
  }
};

} // namespace
