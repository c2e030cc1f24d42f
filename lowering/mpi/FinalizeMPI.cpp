//===- FinalizeMPI.cpp - Upstream MPI ops ready for moa's lowering --------===//

#include "dialect/MoADialect.h"
#include "lowering/Passes.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MPIToLLVM/MPIToLLVM.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOAFINALIZEMPI
#define GEN_PASS_DEF_MOACONVERTMPITOLLVM
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

/// mpi.allreduce reads its send buffer and writes its receive buffer.
struct AllReduceEffects
    : public MemoryEffectOpInterface::ExternalModel<AllReduceEffects,
                                                    mpi::AllReduceOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<MemoryEffects::EffectInstance> &effects) const {
    auto allReduce = cast<mpi::AllReduceOp>(op);
    effects.emplace_back(MemoryEffects::Read::get(),
                         &allReduce.getSendbufMutable());
    effects.emplace_back(MemoryEffects::Write::get(),
                         &allReduce.getRecvbufMutable());
  }
};

/// Upstream copies the input into a fresh buffer and reduces that buffer
/// into itself; MPI forbids overlapping send and receive buffers (short of
/// MPI_IN_PLACE), so the input is sent as it is and the copy dropped. Only
/// the communicator's ops (mpi, arith) may stand between the two.
void sendFromSource(mpi::AllReduceOp allReduce) {
  Value buffer = allReduce.getRecvbuf();
  if (allReduce.getSendbuf() != buffer)
    return;
  // The buffer, or a collapse of it to one dimension.
  auto collapse = buffer.getDefiningOp<memref::CollapseShapeOp>();
  Value allocated = collapse ? collapse.getSrc() : buffer;
  if (!allocated.getDefiningOp<memref::AllocOp>())
    return;
  Operation *op = allReduce->getPrevNode();
  while (op && (isa<mpi::MPIDialect, arith::ArithDialect>(op->getDialect()) ||
                op == collapse))
    op = op->getPrevNode();
  auto copy = dyn_cast_or_null<linalg::CopyOp>(op);
  if (!copy || copy.getOutputs().front() != allocated ||
      copy.getInputs().front().getType() != allocated.getType())
    return;
  Value source = copy.getInputs().front();
  if (collapse) {
    OpBuilder b(allReduce);
    source = memref::CollapseShapeOp::create(
        b, collapse.getLoc(), source, collapse.getReassociationIndices());
  }
  allReduce.getSendbufMutable().assign(source);
  copy.erase();
}

struct MoAFinalizeMPIPass
    : public mlir::moa::impl::MoAFinalizeMPIBase<MoAFinalizeMPIPass> {
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<mpi::MPIDialect>();
    registry.addExtension(+[](MLIRContext *ctx, mpi::MPIDialect *) {
      mpi::AllReduceOp::attachInterface<AllReduceEffects>(*ctx);
    });
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<shard::GridOp> grids(module.getOps<shard::GridOp>());
    if (grids.empty())
      return;
    // moa-data-parallel's one grid spans all ranks; the runtime checks that
    // the job has moa.ranks of them.
    if (grids.size() != 1 || grids.front().getRank() != 1 ||
        !module->hasAttr(kRanksAttrName)) {
      grids.front().emitError("moa-finalize-mpi: expected the one "
                              "one-dimensional grid of moa-data-parallel");
      return signalPassFailure();
    }
    module.walk([](mpi::AllReduceOp allReduce) { sendFromSource(allReduce); });
    module.walk([](mpi::CommSplitOp split) {
      auto world = split.getComm().getDefiningOp<mpi::CommWorldOp>();
      if (world && matchPattern(split.getColor(), m_Constant()))
        split.getNewcomm().replaceAllUsesWith(world);
      if (split.getNewcomm().use_empty())
        split.erase();
    });
    if (!SymbolTable::symbolKnownUseEmpty(grids.front(), module)) {
      grids.front().emitError("moa-finalize-mpi: the grid is still used "
                              "(run convert-shard-to-mpi first)");
      return signalPassFailure();
    }
    grids.front().erase();
  }
};

/// ompi_mpi_<op> (upstream's name) -> ompi_mpi_op_<op> (Open MPI's).
LogicalResult renameOpenMPIOps(ModuleOp module) {
  static constexpr StringLiteral kOps[] = {
      "sum",  "prod", "min",  "max",    "band",   "bor",     "bxor",
      "land", "lor",  "lxor", "maxloc", "minloc", "replace", "no_op"};
  for (StringRef op : kOps) {
    auto global = dyn_cast_or_null<LLVM::GlobalOp>(
        SymbolTable::lookupSymbolIn(module, ("ompi_mpi_" + op).str()));
    if (!global || !global.getInitializerRegion().empty() || global.getValue())
      continue;
    auto name = StringAttr::get(module.getContext(), "ompi_mpi_op_" + op);
    if (SymbolTable::lookupSymbolIn(module, name))
      return global.emitError("moa-convert-mpi-to-llvm: both ")
             << global.getSymName() << " and " << name << " are defined";
    if (failed(SymbolTable::replaceAllSymbolUses(global, name, module)))
      return failure();
    global.setSymName(name);
  }
  return success();
}

struct MoAConvertMPIToLLVMPass
    : public mlir::moa::impl::MoAConvertMPIToLLVMBase<MoAConvertMPIToLLVMPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    WalkResult hasMPI = module.walk([](Operation *op) {
      return isa<mpi::MPIDialect>(op->getDialect()) ? WalkResult::interrupt()
                                                    : WalkResult::advance();
    });
    if (!hasMPI.wasInterrupted())
      return;
    LLVMTypeConverter converter(&getContext());
    RewritePatternSet patterns(&getContext());
    mpi::populateMPIToLLVMConversionPatterns(converter, patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<mpi::MPIDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(module, target, std::move(patterns))) ||
        failed(renameOpenMPIOps(module)))
      signalPassFailure();
  }
};

} // namespace
