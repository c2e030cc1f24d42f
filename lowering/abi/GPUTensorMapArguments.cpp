//===- GPUTensorMapArguments.cpp - TMA descriptors as kernel pointers -----===//
//
// A kernel taking an !nvgpu.tensormap.descriptor takes the !llvm.ptr that
// convert-nvgpu-to-nvvm makes of it, so that convert-gpu-to-nvvm can lower
// its signature (see the pass description in Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAGPUTENSORMAPARGUMENTS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;

namespace {

Value castTo(OpBuilder &b, Location loc, Type type, Value v) {
  return UnrealizedConversionCastOp::create(b, loc, type, v).getResult(0);
}

struct MoAGPUTensorMapArgumentsPass
    : public mlir::moa::impl::MoAGPUTensorMapArgumentsBase<
          MoAGPUTensorMapArgumentsPass> {
  void runOnOperation() override {
    Type pointer = LLVM::LLVMPointerType::get(&getContext());
    getOperation().walk([&](gpu::GPUFuncOp kernel) {
      if (!kernel.isKernel())
        return;
      Block &entry = kernel.getBody().front();
      OpBuilder b = OpBuilder::atBlockBegin(&entry);
      SmallVector<Type> inputs(kernel.getArgumentTypes());
      for (auto [i, type] : llvm::enumerate(inputs)) {
        if (!isa<nvgpu::TensorMapDescriptorType>(type))
          continue;
        BlockArgument arg = entry.getArgument(i);
        Value map = castTo(b, arg.getLoc(), type, arg);
        arg.replaceAllUsesExcept(map, map.getDefiningOp());
        arg.setType(pointer);
        type = pointer;
      }
      kernel.setFunctionType(b.getFunctionType(inputs, {}));
    });
    getOperation().walk([&](gpu::LaunchFuncOp launch) {
      OpBuilder b(launch);
      for (OpOperand &operand : launch.getKernelOperandsMutable())
        if (isa<nvgpu::TensorMapDescriptorType>(operand.get().getType()))
          operand.set(castTo(b, launch.getLoc(), pointer, operand.get()));
    });
  }
};

} // namespace
