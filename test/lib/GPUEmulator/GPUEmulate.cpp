//===- GPUEmulate.cpp - Outlined GPU kernels as host code -----------------===//
//
// For testing the kernels on machines without a GPU: every gpu.func becomes
// a host function of (block, thread, kernel arguments, shared buffers), every
// launch a loop over blocks whose threads are the threads of one OpenMP
// parallel region (one OS thread each), and the GPU-only operations
// (barrier, shuffle, mma.sync) calls into test/lib/GPUEmulator/GpuEmulator.cpp.
// Host gpu.alloc/memcpy/memset/dealloc become their memref counterparts.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/common/LoopEmitter.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "test/lib/GPUEmulator/Passes.h"

namespace mlir::moa::test {
#define GEN_PASS_DEF_MOAGPUEMULATE
#include "test/lib/GPUEmulator/Passes.h.inc"
} // namespace mlir::moa::test

using namespace mlir;
using namespace mlir::moa;

namespace {

/// Leading arguments of an emulated kernel: block x, block y, thread, grid
/// x, grid y, block size.
constexpr unsigned kIdArguments = 6;

/// Calls the emulator's `name` (declared on first use) and returns its
/// result, if any.
Value callEmulator(OpBuilder &b, Location loc, ModuleOp module, StringRef name,
                   TypeRange results, ValueRange operands) {
  auto callee = module.lookupSymbol<func::FuncOp>(name);
  if (!callee) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    callee = func::FuncOp::create(
        b, loc, name, b.getFunctionType(operands.getTypes(), results));
    callee.setPrivate();
  }
  auto call = func::CallOp::create(b, loc, callee, operands);
  return results.empty() ? Value() : call.getResult(0);
}

MemRefType withoutAddressSpace(Type type) {
  auto memref = cast<MemRefType>(type);
  return MemRefType::get(memref.getShape(), memref.getElementType(),
                         memref.getLayout());
}

Value i32Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 32);
}

struct MoAGPUEmulatePass
    : public mlir::moa::test::impl::MoAGPUEmulateBase<MoAGPUEmulatePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    DenseMap<Operation *, func::FuncOp> emulated;
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
    for (gpu::LaunchFuncOp launch : launches) {
      auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
          launch, launch.getKernel());
      if (!kernel || launch.getAsyncToken()) {
        launch.emitError("moa-gpu-emulate needs synchronous launches of "
                         "gpu.func kernels in the module");
        return signalPassFailure();
      }
      func::FuncOp &function = emulated[kernel];
      if (!function && !(function = emulateKernel(kernel)))
        return signalPassFailure();
      replaceLaunch(launch, function, kernel);
    }
    if (failed(replaceHostOps()))
      return signalPassFailure();
    for (auto gpuModule :
         llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>()))
      gpuModule.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }

  /// The kernel as func.func @__moa_emu_<module>_<kernel>.
  func::FuncOp emulateKernel(gpu::GPUFuncOp kernel) {
    ModuleOp module = getOperation();
    Location loc = kernel.getLoc();
    if (!kernel.getBody().hasOneBlock() ||
        !kernel.getPrivateAttributions().empty()) {
      kernel.emitError("moa-gpu-emulate handles single-block kernels without "
                       "private buffers");
      return nullptr;
    }
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Type index = b.getIndexType();
    SmallVector<Type> types(kIdArguments, index);
    llvm::append_range(types, kernel.getArgumentTypes());
    for (BlockArgument shared : kernel.getWorkgroupAttributions())
      types.push_back(withoutAddressSpace(shared.getType()));
    auto parent = kernel->getParentOfType<gpu::GPUModuleOp>();
    auto function = func::FuncOp::create(
        b, loc,
        ("__moa_emu_" + parent.getName() + "_" + kernel.getName()).str(),
        b.getFunctionType(types, {}));
    function.setPrivate();
    Block *entry = function.addEntryBlock();
    IRMapping mapping;
    Block &body = kernel.getBody().front();
    for (auto [i, arg] : llvm::enumerate(body.getArguments()))
      mapping.map(arg, entry->getArgument(kIdArguments + i));
    b.setInsertionPointToStart(entry);
    Value bx = entry->getArgument(0), by = entry->getArgument(1),
          tid = entry->getArgument(2), gx = entry->getArgument(3),
          gy = entry->getArgument(4), bdim = entry->getArgument(5);
    callEmulator(b, loc, module, "moa_emu_thread_begin", {},
                 {arith::IndexCastOp::create(b, loc, b.getI64Type(), tid)});
    for (Operation &op : body)
      b.clone(op, mapping);

    // The GPU-only operations, in the clone.
    SmallVector<Operation *> gpuOps;
    function.walk([&](Operation *op) {
      if (isa<gpu::GPUDialect, NVVM::NVVMDialect>(op->getDialect()))
        gpuOps.push_back(op);
    });
    Value zero, one;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(entry);
      zero = arith::ConstantIndexOp::create(b, loc, 0);
      one = arith::ConstantIndexOp::create(b, loc, 1);
    }
    auto pick = [&](gpu::Dimension d, Value x, Value y, Value z) {
      return d == gpu::Dimension::x ? x : d == gpu::Dimension::y ? y : z;
    };
    for (Operation *op : gpuOps) {
      b.setInsertionPoint(op);
      Location opLoc = op->getLoc();
      if (auto id = dyn_cast<gpu::ThreadIdOp>(op)) {
        op->replaceAllUsesWith(
            ValueRange{pick(id.getDimension(), tid, zero, zero)});
      } else if (auto id = dyn_cast<gpu::BlockIdOp>(op)) {
        op->replaceAllUsesWith(
            ValueRange{pick(id.getDimension(), bx, by, zero)});
      } else if (auto dim = dyn_cast<gpu::BlockDimOp>(op)) {
        op->replaceAllUsesWith(
            ValueRange{pick(dim.getDimension(), bdim, one, one)});
      } else if (auto dim = dyn_cast<gpu::GridDimOp>(op)) {
        op->replaceAllUsesWith(
            ValueRange{pick(dim.getDimension(), gx, gy, one)});
      } else if (isa<gpu::ReturnOp>(op)) {
        func::ReturnOp::create(b, opLoc);
      } else if (isa<gpu::BarrierOp>(op)) {
        callEmulator(b, opLoc, module, "moa_emu_barrier", {}, {});
      } else if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op)) {
        Type type = shuffle.getValue().getType();
        if (!type.isF32() && !type.isInteger(32)) {
          op->emitError("moa-gpu-emulate shuffles only f32 and i32");
          return nullptr;
        }
        Value result = callEmulator(
            b, opLoc, module,
            type.isF32() ? "moa_emu_shuffle_f32" : "moa_emu_shuffle_i32",
            {type},
            {shuffle.getValue(), shuffle.getOffset(), shuffle.getWidth(),
             i32Constant(b, opLoc, static_cast<int64_t>(shuffle.getMode()))});
        op->replaceAllUsesWith(
            ValueRange{result, arith::ConstantIntOp::create(b, opLoc, 1, 1)});
      } else if (auto mma = dyn_cast<NVVM::MmaOp>(op)) {
        if (!emulateMma(b, mma))
          return nullptr;
      } else {
        op->emitError("moa-gpu-emulate cannot run '")
            << op->getName() << "' on the CPU";
        return nullptr;
      }
      op->erase();
    }
    return function;
  }

  /// m16n8k16 with f16 or bf16 operands and f32 accumulators, through the
  /// emulator; the result is rebuilt as the struct the op returned.
  bool emulateMma(OpBuilder &b, NVVM::MmaOp mma) {
    Location loc = mma.getLoc();
    std::optional<NVVM::MMATypes> type = mma.getMultiplicandAPtxType();
    auto shape = mma.getShape();
    if (!type ||
        (*type != NVVM::MMATypes::f16 && *type != NVVM::MMATypes::bf16) ||
        shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16 ||
        mma.getOperandC().size() != 4) {
      mma.emitError("moa-gpu-emulate runs m16n8k16 f16/bf16 mma.sync with "
                    "f32 accumulators only");
      return false;
    }
    auto asI32 = [&](Value v) -> Value {
      if (v.getType().isInteger(32))
        return v;
      Value word = vector::BitCastOp::create(
          b, loc, VectorType::get({1}, b.getI32Type()), v);
      return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
    };
    SmallVector<Value> operands = {
        i32Constant(b, loc, *type == NVVM::MMATypes::f16 ? 0 : 1)};
    for (Value v : mma.getOperandA())
      operands.push_back(asI32(v));
    for (Value v : mma.getOperandB())
      operands.push_back(asI32(v));
    llvm::append_range(operands, mma.getOperandC());
    ModuleOp module = getOperation();
    callEmulator(b, loc, module, "moa_emu_mma", {}, operands);
    Value result = LLVM::UndefOp::create(b, loc, mma.getType());
    for (int64_t i = 0; i < 4; ++i) {
      Value element = callEmulator(b, loc, module, "moa_emu_mma_result",
                                   {b.getF32Type()}, {i32Constant(b, loc, i)});
      result = LLVM::InsertValueOp::create(b, loc, result, element, i);
    }
    mma->replaceAllUsesWith(ValueRange{result});
    return true;
  }

  /// for each block: shared buffers, then the block's threads in parallel.
  void replaceLaunch(gpu::LaunchFuncOp launch, func::FuncOp function,
                     gpu::GPUFuncOp kernel) {
    OpBuilder b(launch);
    Location loc = launch.getLoc();
    loops::Emitter e(b, loc);
    Value gx = launch.getGridSizeX(), gy = launch.getGridSizeY();
    Value bdim = launch.getBlockSizeX();
    SmallVector<Value> operands(launch.getKernelOperands());
    e.loop(e.idx(0), gx, [&](loops::Emitter &x, Value bx) {
      x.loop(x.idx(0), gy, [&](loops::Emitter &y, Value by) {
        SmallVector<Value> shared;
        for (BlockArgument buffer : kernel.getWorkgroupAttributions())
          shared.push_back(memref::AllocOp::create(
              y.b, loc, withoutAddressSpace(buffer.getType())));
        callEmulator(
            y.b, loc, getOperation(), "moa_emu_block_begin", {},
            {arith::IndexCastOp::create(y.b, loc, y.b.getI64Type(), bdim)});
        // One OpenMP thread per GPU thread, all running at once.
        omp::ParallelOperands clauses;
        clauses.numThreads =
            arith::IndexCastOp::create(y.b, loc, y.b.getI32Type(), bdim);
        auto parallel = omp::ParallelOp::create(y.b, loc, clauses);
        {
          OpBuilder::InsertionGuard guard(y.b);
          y.b.createBlock(&parallel.getRegion());
          Value tid = arith::IndexCastOp::create(
              y.b, loc, y.b.getIndexType(),
              callEmulator(y.b, loc, getOperation(), "moa_emu_thread_index",
                           {y.b.getI64Type()}, {}));
          SmallVector<Value> args = {bx, by, tid, gx, gy, bdim};
          llvm::append_range(args, operands);
          llvm::append_range(args, shared);
          func::CallOp::create(y.b, loc, function, args);
          omp::TerminatorOp::create(y.b, loc);
        }
        for (Value buffer : shared)
          memref::DeallocOp::create(y.b, loc, buffer);
      });
    });
    launch.erase();
  }

  /// Host gpu.alloc/dealloc/memcpy/memset/wait as memref and linalg ops.
  LogicalResult replaceHostOps() {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::MemsetOp,
              gpu::WaitOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      auto async = dyn_cast<gpu::AsyncOpInterface>(op);
      if (async && async.getAsyncToken())
        return op->emitError("moa-gpu-emulate needs synchronous GPU ops");
      if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        Value buffer = memref::AllocOp::create(b, loc, alloc.getType(),
                                               alloc.getDynamicSizes());
        alloc.getMemref().replaceAllUsesWith(buffer);
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        memref::DeallocOp::create(b, loc, dealloc.getMemref());
      } else if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
        memref::CopyOp::create(b, loc, copy.getSrc(), copy.getDst());
      } else if (auto memset = dyn_cast<gpu::MemsetOp>(op)) {
        linalg::FillOp::create(b, loc, memset.getValue(), memset.getDst());
      }
      op->erase();
    }
    return success();
  }
};

} // namespace
