//===- BufferizableOpInterfaceImpl.cpp - moa ops in One-Shot Bufferize ----===//
//
// A moa op with tensor semantics bufferizes into the same op on memrefs: its
// operands become (identity-layout) buffers that it only reads, and its
// results fresh buffers that it allocates and writes (nothing aliases, so
// One-Shot Bufferize never needs a copy for it). moa.cache_write and
// moa.adamw instead write into operand buffers (their results on tensors). The
// lowerings then run on that buffer form (lowering/cpu) and buffer deallocation
// frees the results.
//
//===----------------------------------------------------------------------===//

#include "dialect/BufferizableOpInterfaceImpl.h"
#include "dialect/MoAOps.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::moa;

namespace {

/// `buffer` with an identity layout: the buffer itself, or a copy of it.
FailureOr<Value> withIdentityLayout(RewriterBase &rewriter, Location loc,
                                    Value buffer,
                                    const BufferizationOptions &options) {
  auto type = cast<MemRefType>(buffer.getType());
  if (type.getLayout().isIdentity())
    return buffer;
  auto identity =
      MemRefType::get(type.getShape(), type.getElementType(),
                      MemRefLayoutAttrInterface(), type.getMemorySpace());
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(memref::DimOp::create(rewriter, loc, buffer, i));
  FailureOr<Value> copy = options.createAlloc(rewriter, loc, identity, sizes);
  if (failed(copy) ||
      failed(options.createMemCpy(rewriter, loc, buffer, *copy)))
    return failure();
  return copy;
}

/// The buffer type of a result: its shape, an identity layout.
MemRefType resultBufferType(Value result) {
  auto tensor = cast<RankedTensorType>(result.getType());
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

template <typename OpTy>
struct BufferFormModel
    : public BufferizableOpInterface::ExternalModel<BufferFormModel<OpTy>,
                                                    OpTy> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }
  bool bufferizesToAllocation(Operation *, Value) const { return true; }

  FailureOr<BufferLikeType> getBufferType(Operation *, Value value,
                                          const BufferizationOptions &,
                                          const BufferizationState &,
                                          SmallVector<Value> &) const {
    return cast<BufferLikeType>(resultBufferType(value));
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    SmallVector<Value> operands;
    for (Value operand : op->getOperands()) {
      if (!isa<TensorType>(operand.getType())) {
        operands.push_back(operand);
        continue;
      }
      FailureOr<Value> buffer = getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      FailureOr<Value> identity =
          withIdentityLayout(rewriter, op->getLoc(), *buffer, options);
      if (failed(identity))
        return failure();
      operands.push_back(*identity);
    }
    SmallVector<Type> resultTypes;
    for (Value result : op->getResults())
      resultTypes.push_back(resultBufferType(result));
    OperationState bufferized(op->getLoc(), op->getName(), operands,
                              resultTypes, op->getAttrs());
    Operation *onBuffers = rewriter.create(bufferized);
    replaceOpWithBufferizedValues(rewriter, op, onBuffers->getResults());
    return success();
  }
};

/// moa.cache_write is destination-style: its result is the cache's buffer,
/// written in place (One-Shot Bufferize copies the cache first only where
/// the old contents are still read afterwards).
struct CacheWriteModel
    : public DstBufferizableOpInterfaceExternalModel<CacheWriteModel,
                                                     CacheWriteOp> {
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto write = cast<CacheWriteOp>(op);
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer = getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    // The cache is written where it is: a copy would lose the write.
    if (!cast<MemRefType>(buffers[2].getType()).getLayout().isIdentity())
      return write.emitOpError("the cache's buffer must have the identity "
                               "layout (a whole buffer, not a strided view)");
    for (Value &input : MutableArrayRef<Value>(buffers).take_front(2)) {
      FailureOr<Value> identity =
          withIdentityLayout(rewriter, op->getLoc(), input, options);
      if (failed(identity))
        return failure();
      input = *identity;
    }
    CacheWriteOp::create(rewriter, op->getLoc(), Type(), buffers[0], buffers[1],
                         buffers[2]);
    replaceOpWithBufferizedValues(rewriter, op, buffers[2]);
    return success();
  }
};

/// moa.adamw updates its parameter and moments in place: result k is
/// written into the buffer of updated operand k (One-Shot Bufferize copies
/// that operand first only where its old value is still read afterwards,
/// or where it is not writable, such as an argument the caller keeps).
struct AdamWModel
    : public BufferizableOpInterface::ExternalModel<AdamWModel, AdamWOp> {
  static int updatedIndex(Operation *op, OpOperand &operand) {
    SmallVector<OpOperand *, 3> updated =
        cast<AdamWOp>(op).getUpdatedOperands();
    auto it = llvm::find(updated, &operand);
    return it == updated.end() ? -1 : int(it - updated.begin());
  }
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *op, OpOperand &operand,
                               const AnalysisState &) const {
    return updatedIndex(op, operand) >= 0;
  }
  AliasingValueList getAliasingValues(Operation *op, OpOperand &operand,
                                      const AnalysisState &) const {
    int k = updatedIndex(op, operand);
    if (k < 0)
      return {};
    return {{op->getResult(k), BufferRelation::Equivalent}};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    SmallVector<Value> buffers;
    for (OpOperand &operand : op->getOpOperands()) {
      FailureOr<Value> buffer =
          getBuffer(rewriter, operand.get(), options, state);
      if (failed(buffer))
        return failure();
      // An updated buffer is written where it is: a copy would lose it.
      bool updated = updatedIndex(op, operand) >= 0;
      if (updated &&
          !cast<MemRefType>(buffer->getType()).getLayout().isIdentity())
        return op->emitOpError("the parameter's and moments' buffers must "
                               "have the identity layout");
      FailureOr<Value> identity =
          updated
              ? buffer
              : withIdentityLayout(rewriter, op->getLoc(), *buffer, options);
      if (failed(identity))
        return failure();
      buffers.push_back(*identity);
    }
    auto adamw = cast<AdamWOp>(op);
    auto onBuffers = AdamWOp::create(rewriter, op->getLoc(), TypeRange(),
                                     buffers, adamw->getAttrs());
    SmallVector<Value> updated;
    for (OpOperand *operand : onBuffers.getUpdatedOperands())
      updated.push_back(operand->get());
    replaceOpWithBufferizedValues(rewriter, op, updated);
    return success();
  }
};

template <typename... OpTys> void attach(MLIRContext *ctx) {
  (OpTys::template attachInterface<BufferFormModel<OpTys>>(*ctx), ...);
}

} // namespace

void mlir::moa::attachBufferizableOpInterfaceModels(MLIRContext *ctx) {
  attach<RouteOp, DispatchOp, GroupedMatmulOp, MultiQueryAttentionOp,
         LoadBalancingLossOp, RoutingStatisticsOp, RouterZLossOp,
         MutualInformationLossOp, ImportanceCVLossOp, ProjectRouteOp,
         KeyValueProjectionOp, RouteGradOp, GroupedMatmulGradOp,
         MultiQueryAttentionGradOp, LoadBalancingLossGradOp, RouterZLossGradOp,
         MutualInformationLossGradOp, ImportanceCVLossGradOp, LayerNormOp,
         LayerNormGradOp, EmbeddingOp, EmbeddingGradOp, CrossEntropyOp,
         CrossEntropyGradOp, GlobalNormOp, CachedAttentionOp>(ctx);
  CacheWriteOp::attachInterface<CacheWriteModel>(*ctx);
  AdamWOp::attachInterface<AdamWModel>(*ctx);
}
