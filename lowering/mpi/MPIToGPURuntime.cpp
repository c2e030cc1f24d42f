//===- MPIToGPURuntime.cpp - Collectives of device buffers ----------------===//
//
// On the GPU path the buffers a data-parallel step all-reduces live in
// device memory, which MPI does not read (short of a CUDA-aware build).
// Upstream has no NCCL dialect, so the `mpi.allreduce` that
// convert-shard-to-mpi leaves becomes a call of the GPU runtime's
// all-reduce: NCCL on CUDA (runtime/cuda/Nccl.cpp), MPI on the emulator's
// and the mock's host memory.
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"
#include "lowering/common/LoopEmitter.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "runtime/RuntimeABI.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOACONVERTMPITOGPURUNTIME
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// The one all-reduce moa-data-parallel emits: a sum of f32 buffers whose
/// MPI error code nobody reads.
LogicalResult checkSupported(mpi::AllReduceOp allReduce) {
  auto type = [](Value v) { return cast<MemRefType>(v.getType()); };
  if (allReduce.getOp() != mpi::MPI_ReductionOpEnum::MPI_SUM)
    return allReduce.emitError("moa-convert-mpi-to-gpu-runtime: only sums "
                               "are all-reduced on the GPU");
  for (Value buffer : {allReduce.getSendbuf(), allReduce.getRecvbuf()})
    if (!type(buffer).getElementType().isF32() || type(buffer).getRank() != 1)
      return allReduce.emitError("moa-convert-mpi-to-gpu-runtime: expected "
                                 "one-dimensional f32 buffers, got ")
             << buffer.getType();
  if (allReduce.getRetval() && !allReduce.getRetval().use_empty())
    return allReduce.emitError("moa-convert-mpi-to-gpu-runtime: the MPI "
                               "error code of a GPU all-reduce is not "
                               "available");
  return success();
}

/// `allReduce` as the runtime's call on its (send, receive) buffers.
void replaceWithCall(ModuleOp module, mpi::AllReduceOp allReduce) {
  OpBuilder b(allReduce);
  loops::Emitter e(b, allReduce.getLoc());
  // One declaration for all: any one-dimensional view (the runtime reads
  // the descriptor's offset and checks its stride).
  auto view = MemRefType::get({ShapedType::kDynamic}, b.getF32Type(),
                              StridedLayoutAttr::get(b.getContext(),
                                                     ShapedType::kDynamic,
                                                     {ShapedType::kDynamic}));
  auto cast = [&](Value buffer) -> Value {
    return memref::CastOp::create(b, e.loc, view, buffer);
  };
  e.call(module, ::moa::runtime::kGpuAllReduceSymbol, /*cInterface=*/true,
         {cast(allReduce.getSendbuf()), cast(allReduce.getRecvbuf())});
  allReduce->erase();
}

struct MoAConvertMPIToGPURuntimePass
    : public mlir::moa::impl::MoAConvertMPIToGPURuntimeBase<
          MoAConvertMPIToGPURuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<mpi::AllReduceOp> allReduces;
    module.walk([&](mpi::AllReduceOp op) { allReduces.push_back(op); });
    for (mpi::AllReduceOp allReduce : allReduces) {
      if (failed(checkSupported(allReduce)))
        return signalPassFailure();
      replaceWithCall(module, allReduce);
    }
    // The communicator (the world) has no GPU form and no other users.
    module.walk([](Operation *op) {
      if (isa<mpi::CommWorldOp>(op) && op->use_empty())
        op->erase();
    });
  }
};

} // namespace
