//===- GPUBuffers.cpp - Bufferization's buffers placed on the device ------===//
//
// One-Shot Bufferize gives each linalg op an output buffer (memref.alloc)
// and reuses buffers in place: a residual add writes one of its inputs, a
// projection accumulates into a buffer an earlier op wrote. Before its
// patterns run, moa-lower-to-gpu makes every such buffer a device buffer,
// so that each kernel writes where bufferization put its op's output, in
// place or not:
//   memref.alloc     -> gpu.alloc of the same type and sizes
//   memref.copy      -> gpu.memcpy (a copy kernel, linalg.copy, for strided
//                       views; nothing for a copy of a buffer onto itself)
//   memref.get_global of a constant splat read as a scalar by a generic
//                    -> the scalar itself (no copy per call); another
//                       constant splat -> a device buffer filled with it
//                       (gpu.memset); any other global -> a device copy
// moa-gpu-host-boundary later frees the device buffers.
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moa;

namespace {

/// The splat value of the constant global `get` reads, or null.
TypedAttr splatConstant(memref::GetGlobalOp get) {
  auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
      get, get.getNameAttr());
  if (!global || !global.getConstant())
    return {};
  auto value =
      dyn_cast_or_null<DenseElementsAttr>(global.getInitialValueAttr());
  return value && value.isSplat() ? value.getSplatValue<TypedAttr>()
                                  : TypedAttr();
}

/// Generic inputs read as one scalar (an indexing map without results) from
/// a constant splat global take the constant instead.
void inlineScalarConstants(memref::GetGlobalOp get) {
  TypedAttr splat = splatConstant(get);
  if (!splat)
    return;
  for (OpOperand &use : llvm::make_early_inc_range(get->getUses())) {
    auto generic = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!generic || !generic.isDpsInput(&use) ||
        generic.getMatchingIndexingMap(&use).getNumResults() != 0)
      continue;
    OpBuilder b(generic);
    use.set(arith::ConstantOp::create(b, get.getLoc(), splat));
  }
}

/// Reads of `get` (a global in host memory) read a device buffer made where
/// it is read from: a constant splat of 16- or 32-bit elements filled on
/// the device (no bytes cross the bus), any other global a copy.
void placeGlobal(memref::GetGlobalOp get) {
  OpBuilder b(get->getContext());
  b.setInsertionPointAfter(get);
  Location loc = get.getLoc();
  auto device = gpu::AllocOp::create(
      b, loc, get.getType(), Type(), ValueRange{},
      gpu_kernels::dynamicSizes(b, loc, get), ValueRange{});
  TypedAttr splat = splatConstant(get);
  unsigned bits = get.getType().getElementTypeBitWidth();
  if (splat && (bits == 16 || bits == 32)) {
    gpu::MemsetOp::create(b, loc, Type(), ValueRange{}, device.getMemref(),
                          arith::ConstantOp::create(b, loc, splat));
    get.getResult().replaceAllUsesWith(device.getMemref());
    get.erase();
    return;
  }
  auto copy = gpu::MemcpyOp::create(b, loc, Type(), ValueRange{},
                                    device.getMemref(), get);
  get.getResult().replaceAllUsesExcept(device.getMemref(), copy);
}

LogicalResult placeAllocation(memref::AllocOp alloc, Block &entry) {
  MemRefType type = alloc.getType();
  if (alloc->getBlock() != &entry)
    return alloc.emitError("a buffer allocated inside a loop or branch has no "
                           "device placement yet: compile with --target=cpu");
  if (!type.getLayout().isIdentity() || type.getMemorySpace())
    return alloc.emitError("a buffer with a layout or memory space has no "
                           "device placement");
  OpBuilder b(alloc);
  auto device =
      gpu::AllocOp::create(b, alloc.getLoc(), type, Type(), ValueRange{},
                           alloc.getDynamicSizes(), alloc.getSymbolOperands());
  alloc.replaceAllUsesWith(device.getMemref());
  alloc.erase();
  return success();
}

void placeCopy(memref::CopyOp copy) {
  // A buffer updated in place (moa.adamw into its argument) copied onto
  // itself.
  if (copy.getSource() == copy.getTarget())
    return copy.erase();
  OpBuilder b(copy);
  auto identity = [](Value v) {
    return cast<MemRefType>(v.getType()).getLayout().isIdentity();
  };
  if (identity(copy.getSource()) && identity(copy.getTarget()))
    gpu::MemcpyOp::create(b, copy.getLoc(), Type(), ValueRange{},
                          copy.getTarget(), copy.getSource());
  else
    linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                           copy.getTarget());
  copy.erase();
}

} // namespace

LogicalResult gpu_kernels::placeBuffersOnDevice(func::FuncOp func) {
  if (func.isExternal())
    return success();
  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) {
    if (isa<memref::AllocOp, memref::CopyOp, memref::GetGlobalOp>(op))
      ops.push_back(op);
  });
  Block &entry = func.getBody().front();
  for (Operation *op : ops) {
    if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      if (failed(placeAllocation(alloc, entry)))
        return failure();
    } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      placeCopy(copy);
    } else if (auto get = dyn_cast<memref::GetGlobalOp>(op)) {
      inlineScalarConstants(get);
      if (get->use_empty())
        get.erase();
      else
        placeGlobal(get);
    }
  }
  return success();
}
