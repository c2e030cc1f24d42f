//===- GPUHostBoundary.cpp - Entry arguments and results across the bus ---===//
//
// After bufferization, the kernels of moa-lower-to-gpu read and write device
// buffers while the entry point's arguments and results are host memory.
// This pass makes each such entry F two: F + kDeviceEntrySuffix, the
// computation on device buffers that returns its results on the device (for
// callers that keep tensors there, runtime/Device.h), and F itself, which
// copies the arguments over, calls it, and copies the results back.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAGPUHOSTBOUNDARY
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;
using gpu_kernels::dynamicSizes;

namespace {

struct MoAGPUHostBoundaryPass
    : public mlir::moa::impl::MoAGPUHostBoundaryBase<MoAGPUHostBoundaryPass> {
  /// A non-zero code in the host copy of the error word fails the call: an
  /// assertion's code with its message, any other through moa_rt_fail.
  void reportError(OpBuilder &b, Location loc, func::FuncOp func,
                   Value hostError) {
    loops::Emitter e(b, loc);
    Value code = e.load(hostError, {e.idx(0)});
    auto i32 = [&](loops::Emitter &x, int64_t v) {
      return arith::ConstantIntOp::create(x.b, x.loc, v, 32);
    };
    MoADialect::AssertionAttrHelper assertion(&getContext());
    func.walk([&](gpu::LaunchOp launch) {
      ArrayAttr pair = assertion.getAttr(launch);
      if (!pair)
        return;
      int64_t value = cast<IntegerAttr>(pair[0]).getInt();
      e.ifThen(e.cmp(arith::CmpIPredicate::eq, code, i32(e, value)),
               [&](loops::Emitter &x) {
                 x.failWith(getOperation(), cast<StringAttr>(pair[1]));
               });
    });
    Value set = e.cmp(arith::CmpIPredicate::ne, code, i32(e, 0));
    Value fromKernel = e.cmp(arith::CmpIPredicate::slt, code,
                             i32(e, ::moa::runtime::kAssertionCodeBase));
    Value other = e.andI(set, fromKernel);
    e.ifThen(other, [&](loops::Emitter &x) {
      x.call(getOperation(), "moa_rt_fail", /*cInterface=*/false,
             {arith::ExtSIOp::create(x.b, x.loc, x.b.getI64Type(), code)});
    });
  }

  void runOnOperation() override {
    for (auto func : llvm::to_vector(getOperation().getOps<func::FuncOp>()))
      if (!func.isExternal() && failed(placeOnDevice(func)))
        return signalPassFailure();
  }

  LogicalResult placeOnDevice(func::FuncOp func) {
    bool usesDevice = false;
    func.walk([&](Operation *op) {
      usesDevice |= isa<gpu::LaunchOp, gpu::LaunchFuncOp, gpu::AllocOp>(op);
    });
    // Every public function is an entry, which a GPU module has in both
    // forms, GPU code or not (one returning its argument).
    if (!usesDevice && !func.isPublic())
      return success();
    if (!func.getBody().hasOneBlock())
      return func.emitError("moa-gpu-host-boundary needs a single-block body");
    // Host allocations left by bufferization would be read by kernels.
    WalkResult hostBuffers = func.walk([](memref::AllocOp alloc) {
      alloc.emitError("a host buffer in GPU code: this op's value has no "
                      "device lowering");
      return WalkResult::interrupt();
    });
    if (hostBuffers.wasInterrupted())
      return failure();
    auto checkLayout = [&](TypeRange types, StringRef what) -> LogicalResult {
      for (Type type : types)
        if (auto memref = dyn_cast<MemRefType>(type);
            memref && !memref.getLayout().isIdentity())
          return func.emitError("entry ") << what << " need an identity layout";
      return success();
    };
    if (failed(checkLayout(func.getArgumentTypes(), "arguments")) ||
        failed(checkLayout(func.getResultTypes(), "results")))
      return failure();

    // The computation becomes the device entry; `func` copies around it.
    func::FuncOp device = func.clone();
    device.setSymName(
        (func.getSymName() + ::moa::runtime::kDeviceEntrySuffix).str());
    SymbolTable(getOperation()).insert(device, std::next(func->getIterator()));
    if (failed(finishDeviceEntry(device)))
      return failure();
    return buildHostEntry(func, device);
  }

  /// The device entry takes and returns device buffers: a tied result is
  /// written into its argument (and dropped from the results), every other
  /// result is a buffer of its own that the caller frees; all else is freed
  /// here, after which the host waits once and reports errors.
  LogicalResult finishDeviceEntry(func::FuncOp func) {
    Block &body = func.getBody().front();
    OpBuilder b(&getContext());
    Location loc = func.getLoc();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    b.setInsertionPoint(ret);
    llvm::BitVector tied(ret.getNumOperands());
    DenseSet<Value> handedOver;
    for (OpOperand &operand : ret->getOpOperands()) {
      Value value = operand.get();
      if (!isa<MemRefType>(value.getType()))
        continue;
      std::optional<unsigned> arg;
      if (failed(mlir::moa::getTiedArgument(func, operand.getOperandNumber(),
                                            arg)))
        return failure();
      if (arg) {
        if (value != func.getArgument(*arg))
          gpu::MemcpyOp::create(b, loc, Type(), ValueRange{},
                                func.getArgument(*arg), value);
        tied.set(operand.getOperandNumber());
        continue;
      }
      // A buffer the body allocated goes to the caller as it is (through
      // the casts to the result's type), once.
      Value root = value;
      while (auto cast = root.getDefiningOp<memref::CastOp>())
        root = cast.getSource();
      if (root.getDefiningOp<gpu::AllocOp>() && handedOver.insert(root).second)
        continue;
      auto copy = gpu::AllocOp::create(
          b, loc, cast<MemRefType>(value.getType()), Type(), ValueRange{},
          dynamicSizes(b, loc, value), ValueRange{});
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, copy.getMemref(),
                            value);
      operand.set(copy.getMemref());
      handedOver.insert(copy.getMemref());
    }
    ret->eraseOperands(tied);
    if (failed(func.eraseResults(tied)))
      return failure();

    recordRouting(b, loc, func);
    // The error word, then every device buffer not handed over freed.
    Value errorWord;
    SmallVector<Value> buffers;
    func.walk([&](gpu::AllocOp alloc) {
      if (alloc->hasAttr(MoADialect::ErrorWordAttrHelper::getNameStr()))
        errorWord = alloc.getMemref();
      if (!handedOver.contains(alloc.getMemref()))
        buffers.push_back(alloc.getMemref());
    });
    Value hostError;
    if (errorWord) {
      hostError = memref::AllocaOp::create(
          b, loc, cast<MemRefType>(errorWord.getType()));
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, hostError, errorWord);
    }
    for (Value buffer : buffers)
      gpu::DeallocOp::create(b, loc, Type(), ValueRange{}, buffer);
    // One host synchronisation per call, here.
    gpu::WaitOp::create(b, loc, Type(), ValueRange{});
    if (hostError)
      reportError(b, loc, func, hostError);
    return success();
  }

  /// Each moa.record_routing of device indices becomes, where the caller
  /// wants the head-usage record, a copy to the host and the runtime's
  /// moa_rt_record_routing: no bytes cross the bus otherwise.
  void recordRouting(OpBuilder &b, Location loc, func::FuncOp func) {
    SmallVector<RecordRoutingOp> records;
    func.walk([&](RecordRoutingOp record) { records.push_back(record); });
    if (records.empty())
      return;
    Value wanted;
    {
      // First, before any GPU op: a call is a host synchronisation point.
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&func.getBody().front());
      wanted = loops::Emitter(b, loc).wantsRouting(getOperation());
    }
    auto ifOp = scf::IfOp::create(b, loc, wanted, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    SmallVector<std::pair<Value, Value>> copies; // host indices, E
    for (RecordRoutingOp record : records) {
      Value indices = record.getIndices();
      Value host =
          memref::AllocOp::create(b, loc, cast<MemRefType>(indices.getType()),
                                  dynamicSizes(b, loc, indices));
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, host, indices);
      copies.push_back({host, record.getNumExperts()});
      record.erase();
    }
    gpu::WaitOp::create(b, loc, Type(), ValueRange{});
    loops::Emitter e(b, loc);
    for (auto [host, experts] : copies) {
      e.recordRouting(getOperation(), host, experts);
      memref::DeallocOp::create(b, loc, host);
    }
  }

  /// The host entry: each argument the device entry reads copied to the
  /// device, the device entry called, its results (and the tied arguments)
  /// copied back, every device buffer freed, one wait.
  LogicalResult buildHostEntry(func::FuncOp func, func::FuncOp device) {
    Block &body = func.getBody().front();
    body.dropAllDefinedValueUses();
    body.clear();
    OpBuilder b = OpBuilder::atBlockEnd(&body);
    Location loc = func.getLoc();
    SmallVector<Value> operands, deviceBuffers;
    for (auto [arg, deviceArg] :
         llvm::zip(func.getArguments(), device.getArguments())) {
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type || deviceArg.use_empty()) {
        operands.push_back(arg); // never read
        continue;
      }
      auto buffer =
          gpu::AllocOp::create(b, loc, type, Type(), ValueRange{},
                               dynamicSizes(b, loc, arg), ValueRange{});
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, buffer.getMemref(),
                            arg);
      operands.push_back(buffer.getMemref());
      deviceBuffers.push_back(buffer.getMemref());
    }
    auto call = func::CallOp::create(b, loc, device, operands);
    // Host buffers for the results, all allocated before the copies so that
    // the copies follow each other on the stream.
    SmallVector<Value> results;
    SmallVector<std::pair<Value, Value>> copies; // host, device
    unsigned next = 0;
    for (unsigned r = 0; r < func.getNumResults(); ++r) {
      std::optional<unsigned> arg;
      if (failed(mlir::moa::getTiedArgument(func, r, arg)))
        return failure();
      Value fromDevice = arg ? operands[*arg] : call.getResult(next++);
      if (!isa<MemRefType>(fromDevice.getType())) {
        results.push_back(fromDevice);
        continue;
      }
      Value host = arg ? Value(func.getArgument(*arg))
                       : memref::AllocOp::create(
                             b, loc, cast<MemRefType>(fromDevice.getType()),
                             dynamicSizes(b, loc, fromDevice))
                             .getResult();
      results.push_back(host);
      if (host != fromDevice)
        copies.push_back({host, fromDevice});
      if (!arg)
        deviceBuffers.push_back(fromDevice);
    }
    for (auto [host, fromDevice] : copies)
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, host, fromDevice);
    for (Value buffer : deviceBuffers)
      gpu::DeallocOp::create(b, loc, Type(), ValueRange{}, buffer);
    gpu::WaitOp::create(b, loc, Type(), ValueRange{});
    func::ReturnOp::create(b, loc, results);
    return success();
  }
};

} // namespace
