//===- GPULinalg.cpp - linalg ops in buffer form as GPU kernels -----------===//
//
// Part of moa-lower-to-gpu: the linalg ops around the moa ops (elementwise
// arithmetic, fills, copies, transposes, broadcasts, the small reductions
// of size checks) in buffer form, writing their output buffer where
// bufferization put it (GPUBuffers.cpp placed it on the device). Row
// projections (linalg.contract) are tiled GEMMs, in LowerToGPU.cpp.
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/GPUEmitter.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;

namespace {

/// linalg.fill of a contiguous device buffer of 16- or 32-bit elements:
/// gpu.memset (other fills are LowerByElement kernels).
struct LowerFill : OpRewritePattern<linalg::FillOp> {
  /// Before LowerByElement, which takes any fill.
  LowerFill(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(linalg::FillOp op,
                                PatternRewriter &rewriter) const override {
    Value out = op.getOutputs()[0];
    auto type = dyn_cast<MemRefType>(out.getType());
    if (!type || !type.getLayout().isIdentity() ||
        !llvm::is_contained({16u, 32u},
                            type.getElementType().getIntOrFloatBitWidth()))
      return rewriter.notifyMatchFailure(op, "not a contiguous 16/32-bit fill");
    Emitter e(rewriter, op.getLoc());
    deviceFill(e, out, op.getInputs()[0]);
    rewriter.eraseOp(op);
    return success();
  }
};

/// A linalg op in buffer form whose operands are read through projected
/// permutations and whose output map names each parallel loop once: one
/// thread per output element runs the op's reduction loops (if any) in
/// order on its element, then stores it. That covers linalg.transpose,
/// broadcast, fill, copy, elementwise generics (the head folding of
/// moa.multi_head_attention, mask broadcasts, arithmetic; in place is safe:
/// a thread reads and writes only its own output element) and small
/// reductions (moa-generate-decode's position checks); large reductions
/// would want a tree.
struct LowerByElement : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (isa<linalg::ContractOp>(op) || !op.hasPureBufferSemantics() ||
        op.getNumDpsInits() != 1 || !outputNamesParallelLoops(op))
      return rewriter.notifyMatchFailure(op, "not one output per element");
    for (OpOperand *input : op.getDpsInputOperands())
      if (!op.getMatchingIndexingMap(input).isProjectedPermutation())
        return rewriter.notifyMatchFailure(op, "an input is not a projection");
    OpOperand *init = op.getDpsInitOperand(0);
    Value out = init->get();
    AffineMap outMap = op.getMatchingIndexingMap(init);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    SmallVector<Value> loopSizes;
    for (Range range : op.createLoopRanges(rewriter, op.getLoc()))
      loopSizes.push_back(
          getValueOrCreateConstantIndexOp(rewriter, op.getLoc(), range.size));
    SmallVector<Value> sizes;
    Value total = e.idx(1);
    for (int64_t i = 0; i < cast<MemRefType>(out.getType()).getRank(); ++i) {
      sizes.push_back(tb.dim(out, i));
      total = e.mul(total, sizes.back());
    }
    const bool reduces = op.getNumReductionLoops() > 0;
    const bool readsOut = reduces || op.payloadUsesValueFromOperand(init);
    forEachElement(e, reduces ? "moa_reduction" : "moa_elementwise", total,
                   [&](Emitter &x, Value element) {
                     SmallVector<Value> at = delinearize(x, element, sizes);
                     SmallVector<Value> ivs(op.getNumLoops());
                     for (auto [i, index] : llvm::enumerate(at))
                       ivs[outMap.getDimPosition(i)] = index;
                     Value acc = readsOut ? x.load(out, at) : Value();
                     x.store(reduceInto(x, op, ivs, loopSizes, acc), out, at);
                   });
    rewriter.eraseOp(op);
    return success();
  }

  /// Whether the output's indexing map is a projected permutation of
  /// exactly the parallel loops.
  static bool outputNamesParallelLoops(linalg::LinalgOp op) {
    AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    if (!map.isProjectedPermutation() ||
        map.getNumResults() != op.getNumParallelLoops())
      return false;
    SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
    return llvm::all_of(map.getResults(), [&](AffineExpr expr) {
      return kinds[cast<AffineDimExpr>(expr).getPosition()] ==
             utils::IteratorType::parallel;
    });
  }

  /// The output element at `ivs` (its parallel loops set) after the
  /// payload ran over the reduction loops in order, starting from `acc`.
  static Value reduceInto(Emitter &x, linalg::LinalgOp op,
                          SmallVector<Value> ivs, ArrayRef<Value> loopSizes,
                          Value acc, unsigned loop = 0) {
    while (loop < ivs.size() && ivs[loop])
      ++loop;
    if (loop == ivs.size())
      return payload(x, op, ivs, acc);
    return x.loop(x.idx(0), loopSizes[loop], {acc},
                  [&](Emitter &w, Value iv, ValueRange carried) {
                    SmallVector<Value> inner = ivs;
                    inner[loop] = iv;
                    return SmallVector<Value>{reduceInto(
                        w, op, inner, loopSizes, carried[0], loop + 1)};
                  })[0];
  }

  /// The row-major indices of `linear` in an array of `sizes`.
  static SmallVector<Value> delinearize(Emitter &x, Value linear,
                                        ArrayRef<Value> sizes) {
    SmallVector<Value> indices(sizes.size());
    for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
      indices[i] = arith::RemUIOp::create(x.b, x.loc, linear, sizes[i]);
      linear = x.div(linear, sizes[i]);
    }
    return indices;
  }

  /// The payload of `op` at loop indices `ivs`: its inputs loaded through
  /// their indexing maps, the output element `out`, its ops cloned
  /// (linalg.index is the loop index), the yielded value.
  static Value payload(Emitter &x, linalg::LinalgOp op, ValueRange ivs,
                       Value out) {
    Block *body = op.getBlock();
    IRMapping mapping;
    for (OpOperand *input : op.getDpsInputOperands()) {
      if (!op.payloadUsesValueFromOperand(input))
        continue;
      Value v = input->get();
      if (isa<MemRefType>(v.getType())) {
        SmallVector<Value> indices;
        for (AffineExpr expr : op.getMatchingIndexingMap(input).getResults())
          indices.push_back(ivs[cast<AffineDimExpr>(expr).getPosition()]);
        v = x.load(v, indices);
      }
      mapping.map(op.getMatchingBlockArgument(input), v);
    }
    if (out)
      mapping.map(op.getMatchingBlockArgument(op.getDpsInitOperand(0)), out);
    for (Operation &inner : body->without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner))
        mapping.map(index.getResult(), ivs[index.getDim()]);
      else
        x.b.clone(inner, mapping);
    }
    return mapping.lookup(body->getTerminator()->getOperand(0));
  }
};

} // namespace

void gpu_kernels::populateGPULinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerFill, LowerByElement>(patterns.getContext());
}
