//===- GPUHostBoundary.cpp - Entry arguments and results across the bus ---===//
//
// After bufferization, the kernels of moa-lower-to-gpu read and write device
// buffers while the entry point's arguments and results are host memory.
// This pass copies each argument to the device on entry, each result back on
// return, frees every device buffer, and reports the device error word.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

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
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(placeOnDevice(func)))
        return signalPassFailure();
  }

  LogicalResult placeOnDevice(func::FuncOp func) {
    bool usesDevice = false;
    func.walk([&](Operation *op) {
      usesDevice |= isa<gpu::LaunchOp, gpu::LaunchFuncOp, gpu::AllocOp>(op);
    });
    if (!usesDevice)
      return success();
    if (!func.getBody().hasOneBlock())
      return func.emitError("moa-gpu-host-boundary needs a single-block body");
    Block &body = func.getBody().front();
    OpBuilder b(&getContext());
    Location loc = func.getLoc();

    // Host allocations left by bufferization would be read by kernels.
    WalkResult hostBuffers = func.walk([](memref::AllocOp alloc) {
      alloc.emitError("a host buffer in GPU code: this op's value has no "
                      "device lowering");
      return WalkResult::interrupt();
    });
    if (hostBuffers.wasInterrupted())
      return failure();

    // Arguments: a device copy each, used instead of the host buffer.
    b.setInsertionPointToStart(&body);
    for (BlockArgument arg : func.getArguments()) {
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type || arg.use_empty())
        continue;
      if (!type.getLayout().isIdentity())
        return func.emitError("entry arguments need an identity layout");
      SmallVector<Value> sizes = dynamicSizes(b, loc, arg);
      auto device = gpu::AllocOp::create(b, loc, type, Type(), ValueRange{},
                                         sizes, ValueRange{});
      auto copy = gpu::MemcpyOp::create(b, loc, Type(), ValueRange{},
                                        device.getMemref(), arg);
      // Everything after the copy reads the device buffer.
      arg.replaceUsesWithIf(device.getMemref(), [&](OpOperand &use) {
        return copy->isBeforeInBlock(
            body.findAncestorOpInBlock(*use.getOwner()));
      });
    }

    auto ret = cast<func::ReturnOp>(body.getTerminator());
    b.setInsertionPoint(ret);
    // Results: copied into fresh host buffers, all allocated first so that
    // the copies follow each other on the stream; a result tied to a
    // donated argument (a decoder's cache) back into that argument, which
    // moa-drop-tied-results then leaves out of the results.
    SmallVector<std::pair<OpOperand *, Value>> copies;
    for (OpOperand &operand : ret->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type)
        continue;
      if (!type.getLayout().isIdentity())
        return ret.emitError("entry results need an identity layout");
      std::optional<unsigned> tied;
      if (failed(mlir::moa::getTiedArgument(func, operand.getOperandNumber(),
                                            tied)))
        return failure();
      copies.push_back(
          {&operand,
           tied ? Value(func.getArgument(*tied))
                : memref::AllocOp::create(b, loc, type,
                                          dynamicSizes(b, loc, operand.get()))
                      .getResult()});
    }
    for (auto [operand, host] : copies) {
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, host, operand->get());
      operand->set(host);
    }
    // Routing indices for the head-usage report: copied back with the
    // results, recorded after the wait.
    SmallVector<std::pair<Value, Value>> routing; // host indices, E
    SmallVector<RecordRoutingOp> records;
    func.walk([&](RecordRoutingOp record) { records.push_back(record); });
    for (RecordRoutingOp record : records) {
      Value indices = record.getIndices();
      auto type = cast<MemRefType>(indices.getType());
      Value host =
          memref::AllocOp::create(b, loc, type, dynamicSizes(b, loc, indices));
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, host, indices);
      routing.push_back({host, record.getNumExperts()});
      record.erase();
    }
    // The error word, then every device buffer freed.
    Value errorWord;
    SmallVector<gpu::AllocOp> allocations;
    func.walk([&](gpu::AllocOp alloc) {
      allocations.push_back(alloc);
      if (alloc->hasAttr(MoADialect::ErrorWordAttrHelper::getNameStr()))
        errorWord = alloc.getMemref();
    });
    Value hostError;
    if (errorWord) {
      hostError = memref::AllocaOp::create(
          b, loc, cast<MemRefType>(errorWord.getType()));
      gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, hostError, errorWord);
    }
    for (gpu::AllocOp alloc : allocations)
      gpu::DeallocOp::create(b, loc, Type(), ValueRange{}, alloc.getMemref());
    // One host synchronisation per call, here.
    gpu::WaitOp::create(b, loc, Type(), ValueRange{});
    for (auto [host, experts] : routing) {
      loops::Emitter e(b, loc);
      e.recordRouting(getOperation(), host, experts);
      memref::DeallocOp::create(b, loc, host);
    }
    if (hostError)
      reportError(b, loc, func, hostError);
    return success();
  }
};

} // namespace
