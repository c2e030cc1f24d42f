//===- LowerToRuntimeCalls.cpp - moa primitives to CPU kernel calls -------===//

#include "dialect/MoAOps.h"
#include "lowering/Passes.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "runtime/KernelFlags.h"

namespace mlir::moa {
#define GEN_PASS_DEF_MOALOWERTORUNTIMECALLS
#include "lowering/Passes.h.inc"
} // namespace mlir::moa

using namespace mlir;
using namespace mlir::moa;
using ::moa::runtime::KernelFlag;

namespace {

int64_t flagIf(bool condition, KernelFlag flag) {
  return condition ? static_cast<int64_t>(flag) : 0;
}

/// Builds the IR around one kernel call: operands become buffers, results
/// fresh allocations that come back as tensors.
class KernelCallBuilder {
public:
  KernelCallBuilder(PatternRewriter &rewriter, Operation *op)
      : b(rewriter), loc(op->getLoc()),
        module(op->getParentOfType<ModuleOp>()) {}

  Value dim(Value tensor, int64_t i) {
    return getValueOrCreateConstantIndexOp(
        b, loc, tensor::getMixedSize(b, loc, tensor, i));
  }

  /// `tensor` converted to f32 elementwise (the kernels compute in f32).
  Value toF32(Value tensor) { return convert(tensor, b.getF32Type()); }

  /// Elementwise extf/truncf of a float tensor to `elementType`.
  Value convert(Value tensor, Type elementType) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (type.getElementType() == elementType)
      return tensor;
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, tensor);
    Value init = tensor::EmptyOp::create(b, loc, sizes, elementType);
    SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(type.getRank()));
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    bool widen = elementType.getIntOrFloatBitWidth() >
                 type.getElementType().getIntOrFloatBitWidth();
    return linalg::GenericOp::create(
               b, loc, init.getType(), tensor, init, maps, iterators,
               [&](OpBuilder &nb, Location nloc, ValueRange args) {
                 Value v = widen ? arith::ExtFOp::create(nb, nloc, elementType,
                                                         args[0])
                                       .getResult()
                                 : arith::TruncFOp::create(nb, nloc,
                                                           elementType, args[0])
                                       .getResult();
                 linalg::YieldOp::create(nb, nloc, v);
               })
        .getResult(0);
  }

  /// Passes `tensor` to the kernel as a read-only buffer.
  void input(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                                     /*read_only=*/true);
    addOperand(buffer);
  }

  /// Passes an absent optional operand: an empty buffer of the given rank.
  void absent(Type elementType, int64_t rank) {
    auto type = MemRefType::get(SmallVector<int64_t>(rank, 0), elementType);
    addOperand(memref::AllocaOp::create(b, loc, type));
  }

  void optionalInput(Value tensor, Type elementType, int64_t rank) {
    if (tensor)
      input(tensor);
    else
      absent(elementType, rank);
  }

  /// Allocates a result buffer of `type` (dynamic sizes given in order).
  void output(RankedTensorType type, ValueRange dynamicSizes) {
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = memref::AllocOp::create(b, loc, memrefType, dynamicSizes);
    outputs.push_back(buffer);
    addOperand(buffer);
  }

  void scalar(Value value) { operands.push_back(value); }
  void flags(int64_t value) {
    scalar(arith::ConstantIntOp::create(b, loc, value, 64));
  }

  /// Emits the call and returns the results as tensors.
  SmallVector<Value> call(StringRef kernel) {
    func::FuncOp callee = declare(kernel);
    func::CallOp::create(b, loc, callee, operands);
    SmallVector<Value> results;
    for (Value buffer : outputs) {
      auto memrefType = cast<MemRefType>(buffer.getType());
      auto tensorType = RankedTensorType::get(memrefType.getShape(),
                                              memrefType.getElementType());
      results.push_back(bufferization::ToTensorOp::create(
          b, loc, tensorType, buffer, /*restrict=*/true, /*writable=*/true));
    }
    return results;
  }

private:
  /// Kernels take fully dynamic buffers so one declaration serves all shapes.
  void addOperand(Value buffer) {
    auto type = cast<MemRefType>(buffer.getType());
    auto dynamic = MemRefType::get(
        SmallVector<int64_t>(type.getRank(), ShapedType::kDynamic),
        type.getElementType());
    operands.push_back(memref::CastOp::create(b, loc, dynamic, buffer));
  }

  func::FuncOp declare(StringRef kernel) {
    std::string name = ("moa_rt_" + kernel).str();
    auto type = b.getFunctionType(ValueRange(operands).getTypes(), {});
    if (auto existing = module.lookupSymbol<func::FuncOp>(name))
      return existing;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    auto decl = func::FuncOp::create(b, loc, name, type);
    decl.setPrivate();
    decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    return decl;
  }

  PatternRewriter &b;
  Location loc;
  ModuleOp module;
  SmallVector<Value> operands;
  SmallVector<Value> outputs;
};

struct LowerRoute : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    KernelCallBuilder call(rewriter, op);
    Value logits = op.getLogits();
    SmallVector<Value> dims = {call.dim(logits, 0), call.dim(logits, 1)};
    call.input(logits);
    call.optionalInput(op.getQueryPaddingMask(), rewriter.getI1Type(), 2);
    call.output(op.getIndices().getType(), dims);
    call.output(op.getGates().getType(), dims);
    call.flags(
        flagIf(op.getGating() == Gating::TopKSoftmax, KernelFlag::TopKSoftmax) |
        flagIf(op.getRenormalize(), KernelFlag::Renormalize) |
        flagIf(bool(op.getQueryPaddingMask()), KernelFlag::HasMask));
    rewriter.replaceOp(op, call.call("route"));
    return success();
  }
};

struct LowerDispatch : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    KernelCallBuilder call(rewriter, op);
    Value indices = op.getIndices();
    Value pairs = arith::MulIOp::create(
        rewriter, op.getLoc(),
        arith::MulIOp::create(rewriter, op.getLoc(), call.dim(indices, 0),
                              call.dim(indices, 1)),
        call.dim(indices, 2));
    call.input(indices);
    SmallVector<Value> permutationSizes;
    if (op.getPermutation().getType().isDynamicDim(0))
      permutationSizes.push_back(pairs);
    call.output(op.getPermutation().getType(), permutationSizes);
    call.output(op.getOffsets().getType(), {});
    rewriter.replaceOp(op, call.call("dispatch"));
    return success();
  }
};

/// Dynamic sizes of `type` taken from `sizes` (one per dimension).
SmallVector<Value> dynamicSizes(RankedTensorType type, ArrayRef<Value> sizes) {
  SmallVector<Value> result;
  for (auto [i, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size))
      result.push_back(sizes[i]);
  return result;
}

struct LowerGroupedMatmul : OpRewritePattern<GroupedMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getPermutation().getType().getElementType().isInteger(32) ||
        !op.getOffsets().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "permutation must be i32");
    Location loc = op.getLoc();
    KernelCallBuilder call(rewriter, op);
    Value input = call.toF32(op.getInput());
    Value weight = call.toF32(op.getWeight());
    auto inputType = cast<RankedTensorType>(input.getType());
    RankedTensorType resultType = op.getType();
    Value b = call.dim(input, 0), t = call.dim(input, 1);
    Value n = call.dim(weight, 2);

    // Kernel views: input [B,T,kin,K] (kin = 1 for token rows) and result
    // [B,T,kout,N] (kout = 1 when combining).
    if (inputType.getRank() == 3) {
      SmallVector<int64_t> shape = {inputType.getDimSize(0),
                                    inputType.getDimSize(1), 1,
                                    inputType.getDimSize(2)};
      SmallVector<OpFoldResult> outputShape =
          tensor::getMixedSizes(rewriter, loc, input);
      outputShape.insert(outputShape.begin() + 2, rewriter.getIndexAttr(1));
      input = tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get(shape, rewriter.getF32Type()),
          input, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
          outputShape);
    }
    bool combine = bool(op.getGates());
    Value slots =
        combine ? arith::ConstantIndexOp::create(rewriter, loc, 1).getResult()
                : call.dim(op.getResult(), 2);
    if (!combine && resultType.isDynamicDim(2)) {
      // k = |permutation| / (B*T).
      Value tokens = arith::MulIOp::create(rewriter, loc, b, t);
      slots = arith::DivUIOp::create(rewriter, loc,
                                     call.dim(op.getPermutation(), 0), tokens);
    }
    SmallVector<int64_t> kernelShape = {
        resultType.getDimSize(0), resultType.getDimSize(1),
        combine ? 1 : resultType.getDimSize(2),
        resultType.getDimSize(resultType.getRank() - 1)};
    auto kernelResult =
        RankedTensorType::get(kernelShape, rewriter.getF32Type());

    call.input(input);
    call.input(weight);
    call.input(op.getPermutation());
    call.input(op.getOffsets());
    call.optionalInput(op.getGates(), rewriter.getF32Type(), 3);
    call.output(kernelResult, dynamicSizes(kernelResult, {b, t, slots, n}));
    call.flags(flagIf(combine, KernelFlag::HasGates));
    Value result = call.call("grouped_matmul").front();
    if (combine)
      result = tensor::CollapseShapeOp::create(
          rewriter, loc, result,
          SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    result = call.convert(result, resultType.getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, result);
    return success();
  }
};

struct LowerMultiQueryAttention : OpRewritePattern<MultiQueryAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MultiQueryAttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KernelCallBuilder call(rewriter, op);
    Value query = call.toF32(op.getQuery());
    auto f32Type = cast<RankedTensorType>(query.getType());
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < 4; ++i)
      sizes.push_back(call.dim(query, i));
    call.input(query);
    call.input(call.toF32(op.getKey()));
    call.input(call.toF32(op.getValue()));
    call.optionalInput(op.getKeyPaddingMask(), rewriter.getI1Type(), 2);
    call.output(f32Type, dynamicSizes(f32Type, sizes));
    std::optional<APFloat> scale = op.getScale();
    call.scalar(arith::ConstantFloatOp::create(
        rewriter, loc, rewriter.getF32Type(), scale ? *scale : APFloat(0.0f)));
    call.flags(flagIf(op.getCausal(), KernelFlag::Causal) |
               flagIf(bool(op.getKeyPaddingMask()), KernelFlag::HasMask) |
               flagIf(bool(scale), KernelFlag::HasScale));
    Value result = call.call("multi_query_attention").front();
    rewriter.replaceOp(op, call.convert(result, op.getType().getElementType()));
    return success();
  }
};

struct LowerLoadBalancingLoss : OpRewritePattern<LoadBalancingLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadBalancingLossOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    KernelCallBuilder call(rewriter, op);
    call.input(op.getLogits());
    call.input(op.getIndices());
    call.optionalInput(op.getQueryPaddingMask(), rewriter.getI1Type(), 2);
    call.output(op.getType(), {});
    call.flags(flagIf(bool(op.getQueryPaddingMask()), KernelFlag::HasMask));
    rewriter.replaceOp(op, call.call("load_balancing_loss"));
    return success();
  }
};

struct LowerRouterZLoss : OpRewritePattern<RouterZLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouterZLossOp op,
                                PatternRewriter &rewriter) const override {
    KernelCallBuilder call(rewriter, op);
    call.input(op.getLogits());
    call.optionalInput(op.getQueryPaddingMask(), rewriter.getI1Type(), 2);
    call.output(op.getType(), {});
    call.flags(flagIf(bool(op.getQueryPaddingMask()), KernelFlag::HasMask));
    rewriter.replaceOp(op, call.call("router_z_loss"));
    return success();
  }
};

/// linalg.contract of the row-projection form that moa-decompose emits:
/// out[b,t,n] = init[b,t,n] + sum_c x[b,t,c] w[c,n].
struct LowerRowProjection : OpRewritePattern<linalg::ContractOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::ContractOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getInputs().size() != 2 ||
        op.getOutputs().size() != 1)
      return rewriter.notifyMatchFailure(op, "not a tensor contraction");
    MLIRContext *ctx = op.getContext();
    AffineExpr b, t, n, c;
    bindDims(ctx, b, t, n, c);
    auto map = [&](ArrayRef<AffineExpr> results) {
      return AffineMap::get(4, 0, results, ctx);
    };
    SmallVector<AffineMap> expected = {map({b, t, c}), map({c, n}),
                                       map({b, t, n})};
    if (op.getIndexingMapsArray() != ArrayRef<AffineMap>(expected))
      return rewriter.notifyMatchFailure(op, "not a row projection");
    auto resultType = cast<RankedTensorType>(op.getResultTypes()[0]);
    if (!isa<FloatType>(resultType.getElementType()))
      return rewriter.notifyMatchFailure(op, "not a float contraction");

    KernelCallBuilder call(rewriter, op);
    Value x = call.toF32(op.getInputs()[0]);
    Value init = call.toF32(op.getOutputs()[0]);
    auto f32Type = cast<RankedTensorType>(init.getType());
    SmallVector<Value> sizes = {call.dim(init, 0), call.dim(init, 1),
                                call.dim(init, 2)};
    call.input(x);
    call.input(call.toF32(op.getInputs()[1]));
    call.input(init);
    call.output(f32Type, dynamicSizes(f32Type, sizes));
    Value result = call.call("project_rows").front();
    rewriter.replaceOp(op, call.convert(result, resultType.getElementType()));
    return success();
  }
};

struct MoALowerToRuntimeCallsPass
    : public mlir::moa::impl::MoALowerToRuntimeCallsBase<
          MoALowerToRuntimeCallsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerRoute, LowerDispatch, LowerGroupedMatmul,
                 LowerMultiQueryAttention, LowerLoadBalancingLoss,
                 LowerRouterZLoss, LowerRowProjection>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Whatever moa op is left cannot run on the CPU: say which and why.
    WalkResult leftOver = getOperation()->walk([](Operation *op) {
      if (!isa<MoADialect>(op->getDialect()))
        return WalkResult::advance();
      if (isa<MixtureAttentionOp>(op))
        op->emitError("run moa-decompose before moa-lower-to-runtime-calls");
      else
        op->emitError("cannot lower to the CPU runtime: index and "
                      "permutation operands must be i32");
      return WalkResult::interrupt();
    });
    if (leftOver.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
