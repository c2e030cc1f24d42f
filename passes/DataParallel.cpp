//===- DataParallel.cpp - moa-data-parallel -------------------------------===//
//
// Data parallelism for a training step: every rank runs the step on its
// slice of the global batch; one all-reduce of a flat bucket makes the
// gradients (and the reported losses) those of the global batch, and the
// load-balancing loss sees the routing statistics of the global batch.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "passes/Passes.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOADATAPARALLEL
#include "passes/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;

namespace {

constexpr StringLiteral kGridName = "moa_data";

/// x * factor for an f32 tensor of static shape.
Value scaleBy(ImplicitLocOpBuilder &b, Value x, double factor) {
  auto type = cast<RankedTensorType>(x.getType());
  Value c = arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, b.getF32FloatAttr(float(factor))));
  return arith::MulFOp::create(b, x, c);
}

/// The values a flat f32 bucket carries: static-shaped tensors, each
/// packed at an offset.
struct Bucket {
  SmallVector<Value> values;
  SmallVector<int64_t> offsets;
  int64_t size = 0;

  void add(Value v) {
    values.push_back(v);
    offsets.push_back(size);
    size += cast<RankedTensorType>(v.getType()).getNumElements();
  }
};

/// The packed bucket: each value flattened into place.
Value pack(ImplicitLocOpBuilder &b, const Bucket &bucket) {
  Value flat = tensor::EmptyOp::create(b, ArrayRef<int64_t>{bucket.size},
                                       b.getF32Type());
  for (auto [v, offset] : llvm::zip(bucket.values, bucket.offsets)) {
    auto type = cast<RankedTensorType>(v.getType());
    auto row = RankedTensorType::get({type.getNumElements()}, b.getF32Type());
    Value part =
        type.getRank() == 1 ? v
        : type.getRank() == 0
            ? tensor::ExpandShapeOp::create(b, row, v,
                                            ArrayRef<ReassociationIndices>{})
                  .getResult()
            : tensor::CollapseShapeOp::create(
                  b, row, v,
                  ArrayRef<ReassociationIndices>{
                      llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()))})
                  .getResult();
    flat = tensor::InsertSliceOp::create(
        b, part, flat, ArrayRef<OpFoldResult>{b.getIndexAttr(offset)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(type.getNumElements())},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  }
  return flat;
}

/// Value i of the bucket, read back from `flat` in its own shape.
Value unpack(ImplicitLocOpBuilder &b, Value flat, const Bucket &bucket,
             size_t i) {
  auto type = cast<RankedTensorType>(bucket.values[i].getType());
  auto row = RankedTensorType::get({type.getNumElements()}, b.getF32Type());
  Value part = tensor::ExtractSliceOp::create(
      b, row, flat, ArrayRef<OpFoldResult>{b.getIndexAttr(bucket.offsets[i])},
      ArrayRef<OpFoldResult>{b.getIndexAttr(type.getNumElements())},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  if (type.getRank() == 1)
    return part;
  if (type.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, type, part,
                                           ArrayRef<ReassociationIndices>{});
  return tensor::ExpandShapeOp::create(
      b, type, part,
      ArrayRef<ReassociationIndices>{
          llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()))});
}

struct MoADataParallelPass
    : public moa::impl::MoADataParallelBase<MoADataParallelPass> {
  using MoADataParallelBase::MoADataParallelBase;

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    if (failed(initializeOptionsExplained(*this, options, errorHandler)))
      return failure();
    return axisSize >= 1 ? success()
                         : errorHandler("moa-data-parallel: axis-size must "
                                        "be at least 1");
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string name = function + "_train_step";
    auto step = SymbolTable(module).lookup<func::FuncOp>(name);
    if (!step || step.isExternal()) {
      emitError(module.getLoc())
          << "moa-data-parallel: no function '@" << name
          << "': run moa-generate-train-step{function=" << function
          << "} first";
      return signalPassFailure();
    }
    if (module->hasAttr(kRanksAttrName) ||
        SymbolTable(module).lookup(kGridName)) {
      emitError(module.getLoc(), "moa-data-parallel: the module is data "
                                 "parallel already");
      return signalPassFailure();
    }
    if (failed(checkSupported(step)))
      return signalPassFailure();
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    shard::GridOp::create(top, module.getLoc(), kGridName,
                          ArrayRef<int64_t>{axisSize});
    globalRoutingStatistics(step);
    if (failed(allReduceGradients(step)))
      return signalPassFailure();
    module->setAttr(kRanksAttrName, top.getI64IntegerAttr(axisSize));
    module->setAttr(DLTIDialect::kMapAttrName, markMPI(top));
  }

  /// Upstream's MPI lowering reads the implementation from the DLTI map.
  static Attribute markMPI(OpBuilder &b) {
    return MapAttr::get(
        b.getContext(),
        {DataLayoutEntryAttr::get(b.getStringAttr("MPI:Implementation"),
                                  b.getStringAttr("OpenMPI"))});
  }

  /// Losses over batch-level statistics other than the load-balancing
  /// loss's would silently be per rank.
  static LogicalResult checkSupported(func::FuncOp step) {
    WalkResult unsupported = step.walk([](Operation *op) {
      if (!isa<MutualInformationLossOp, MutualInformationLossGradOp,
               ImportanceCVLossOp, ImportanceCVLossGradOp>(op))
        return WalkResult::advance();
      op->emitError("moa-data-parallel: '")
          << op->getName()
          << "' depends on the statistics of the whole batch and has no "
             "data-parallel form yet";
      return WalkResult::interrupt();
    });
    return failure(unsupported.wasInterrupted());
  }

  /// Each group of load-balancing losses and gradients over the same logits,
  /// indices and mask gets the all-reduced statistics of its batch.
  void globalRoutingStatistics(func::FuncOp step) const {
    using Key = std::tuple<Value, Value, Value>;
    llvm::MapVector<Key, SmallVector<Operation *>> groups;
    auto group = [&](auto op) {
      if (op && !op.getStatistics())
        groups[{op.getLogits(), op.getIndices(), op.getQueryPaddingMask()}]
            .push_back(op);
    };
    step.walk([&](Operation *op) {
      group(dyn_cast<LoadBalancingLossOp>(op));
      group(dyn_cast<LoadBalancingLossGradOp>(op));
    });
    for (auto &[key, ops] : groups) {
      auto [logits, indices, mask] = key;
      // The walk visits a block's ops in order: ops[0] comes first.
      ImplicitLocOpBuilder b(ops.front()->getLoc(), ops.front());
      Value local = RoutingStatisticsOp::create(b, logits, indices, mask);
      Value global = shard::AllReduceOp::create(b, local.getType(), kGridName,
                                                ArrayRef<int16_t>{0}, local);
      for (Operation *op : ops) {
        if (auto loss = dyn_cast<LoadBalancingLossOp>(op)) {
          loss.getStatisticsMutable().assign(global);
          continue;
        }
        auto grad = cast<LoadBalancingLossGradOp>(op);
        b.setInsertionPoint(grad);
        grad.getLossGradMutable().assign(
            scaleBy(b, grad.getLossGrad(), double(axisSize)));
        grad.getStatisticsMutable().assign(global);
      }
    }
  }

  /// One bucket: the gradients that moa.global_norm reads and the step's
  /// scalar f32 results, summed over the grid and averaged.
  LogicalResult allReduceGradients(func::FuncOp step) const {
    SmallVector<GlobalNormOp> norms(step.getOps<GlobalNormOp>());
    if (norms.size() != 1)
      return step.emitError("moa-data-parallel: expected the one "
                            "moa.global_norm of a training step, found ")
             << norms.size();
    GlobalNormOp norm = norms.front();
    auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
    Bucket bucket;
    for (Value grad : norm.getOperands())
      bucket.add(grad);
    auto scalar =
        RankedTensorType::get({}, Float32Type::get(step.getContext()));
    SmallVector<unsigned> scalarResults;
    for (OpOperand &result : ret->getOpOperands()) {
      Operation *def = result.get().getDefiningOp();
      if (result.get().getType() != scalar || !def ||
          def->getBlock() != norm->getBlock() || !def->isBeforeInBlock(norm))
        continue; // grad_norm and what follows it are the same on all ranks
      scalarResults.push_back(result.getOperandNumber());
      bucket.add(result.get());
    }
    ImplicitLocOpBuilder b(norm.getLoc(), norm);
    Value flat = pack(b, bucket);
    Value summed = shard::AllReduceOp::create(b, flat.getType(), kGridName,
                                              ArrayRef<int16_t>{0}, flat);
    Value mean = scaleBy(b, summed, 1.0 / double(axisSize));
    const size_t numGrads = norm.getNumOperands();
    for (size_t i = 0; i < numGrads; ++i) {
      Value grad = bucket.values[i];
      Value global = unpack(b, mean, bucket, i);
      // The optimizer and the norm read the global gradient; the packing
      // keeps the local one.
      grad.replaceUsesWithIf(global, [&](OpOperand &use) {
        return isa<GlobalNormOp, AdamWOp>(use.getOwner());
      });
    }
    for (auto [i, resultIndex] : llvm::enumerate(scalarResults))
      ret->setOperand(resultIndex, unpack(b, mean, bucket, numGrads + i));
    return success();
  }
};

} // namespace
