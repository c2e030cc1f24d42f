//===- GPUModelOps.cpp - moa's model ops as GPU kernels -------------------===//
//
// Part of moa-lower-to-gpu: the model ops around the attention layers that
// MLIR has no upstream op for, so that a model's forward (a decoder's
// prefill and decoding steps) runs on the GPU: moa.embedding (a block per
// token copying its table row) and moa.layer_norm (a warp per row, the
// moments in f32 from two passes over the row).
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "lowering/gpu/GPUEmitter.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::gpu_kernels;

namespace {

/// Threads of a block that walks one row.
constexpr int64_t kRowThreads = 4 * kWarp;

/// moa.embedding: a block per token; an id outside the table sets the
/// error word (the CPU path's message) and leaves the row zero.
struct LowerEmbedding : OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getIndices().getType().getElementType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "indices must be i32");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    Value batch = tb.dim(op.getIndices(), 0);
    Value length = tb.dim(op.getIndices(), 1);
    Value vocab = tb.dim(op.getTable(), 0), d = tb.dim(op.getTable(), 1);
    Value rows = e.mul(batch, length);
    Value ids = tb.collapse(tb.buffer(op.getIndices()), {{0, 1}});
    Value table = tb.buffer(op.getTable());
    Value result = deviceAlloc(e, e.b.getF32Type(), {batch, length, d});
    Value out = tb.collapse(result, {{0, 1}, {2}});
    launch(
        e, "moa_embedding", atLeastOne(e, rows), e.idx(1), kRowThreads, {},
        [&](Emitter &kernel, const Kernel &k, ValueRange) {
          kernel.ifThen(
              kernel.cmp(arith::CmpIPredicate::ult, k.bidX, rows),
              [&](Emitter &x) {
                Value id = arith::IndexCastOp::create(
                    x.b, x.loc, x.b.getIndexType(), x.load(ids, {k.bidX}));
                Value valid = x.andI(
                    arith::CmpIOp::create(x.b, x.loc, arith::CmpIPredicate::sge,
                                          id, x.idx(0)),
                    x.cmp(arith::CmpIPredicate::slt, id, vocab));
                x.ifThen(x.andI(x.notI(valid), isZero(x, k.tid)),
                         [&](Emitter &y) {
                           fail(y, err,
                                ::moa::runtime::FailureCode::IndexOutOfRange);
                         });
                x.stridedLoop(
                    k.tid, d, x.idx(kRowThreads), [&](Emitter &y, Value c) {
                      y.store(loadIf(y, valid, table, {id, c}, y.f32(0)), out,
                              {k.bidX, c});
                    });
              });
        });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }
};

/// moa.layer_norm over the last dimension: a warp per row of the input
/// viewed as [rows, d]; mean, then the biased variance, by warp sums.
struct LowerLayerNorm : OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<ShapedType>(op.getInput().getType());
    if (type.getRank() < 2)
      return rewriter.notifyMatchFailure(op, "rank below 2");
    Value err = errorWord(rewriter, op);
    TensorBoundary tb(rewriter, op);
    Emitter &e = tb.e;
    const int64_t rank = type.getRank();
    SmallVector<Value> sizes;
    Value rows = e.idx(1);
    for (int64_t i = 0; i < rank; ++i) {
      sizes.push_back(tb.dim(op.getInput(), i));
      if (i + 1 < rank)
        rows = e.mul(rows, sizes.back());
    }
    Value d = sizes.back();
    Value ok =
        tb.agree({{tb.dim(op.getGamma(), 0), d}, {tb.dim(op.getBeta(), 0), d}});
    ReassociationIndices outer;
    for (int64_t i = 0; i + 1 < rank; ++i)
      outer.push_back(i);
    SmallVector<ReassociationIndices> groups = {outer, {rank - 1}};
    Value x = tb.collapse(tb.buffer(op.getInput()), groups);
    Value gamma = tb.buffer(op.getGamma()), beta = tb.buffer(op.getBeta());
    Value result = deviceAlloc(e, e.b.getF32Type(), sizes);
    Value y = tb.collapse(result, groups);
    Value epsilon = e.f32(op.getEpsilon().convertToFloat());
    launch(e, "moa_layer_norm", atLeastOne(e, rows), e.idx(1), kWarp, {},
           [&](Emitter &kernel, const Kernel &k, ValueRange) {
             whenShapesAgree(kernel, k, ok, err, [&](Emitter &g) {
               g.ifThen(g.cmp(arith::CmpIPredicate::ult, k.bidX, rows),
                        [&](Emitter &z) {
                          normaliseRow(z, k, x, gamma, beta, y, d, epsilon);
                        });
             });
           });
    rewriter.replaceOp(op, tb.result(result, op.getType()));
    return success();
  }

  /// Row k.bidX of x into y; each lane takes the columns lane + 32 i.
  static void normaliseRow(Emitter &z, const Kernel &k, Value x, Value gamma,
                           Value beta, Value y, Value d, Value epsilon) {
    Value r = k.bidX;
    // The sum over the row of term(column), in every lane.
    auto rowSum = [&](function_ref<Value(Emitter &, Value)> term) {
      Value lanePart =
          z.stridedLoop(k.lane, d, z.idx(kWarp), {z.f32(0)},
                        [&](Emitter &w, Value c, ValueRange acc) {
                          return SmallVector<Value>{w.addf(acc[0], term(w, c))};
                        })[0];
      return warpSum(z, lanePart);
    };
    Value n = arith::UIToFPOp::create(
        z.b, z.loc, z.b.getF32Type(),
        arith::IndexCastOp::create(z.b, z.loc, z.b.getI64Type(), d));
    auto value = [&](Emitter &w, Value c) { return w.load(x, {r, c}); };
    Value mean = z.divf(rowSum(value), n);
    auto squaredDeviation = [&](Emitter &w, Value c) {
      Value centred = w.subf(value(w, c), mean);
      return w.mulf(centred, centred);
    };
    Value variance = z.divf(rowSum(squaredDeviation), n);
    Value rstd = z.divf(
        z.f32(1), math::SqrtOp::create(z.b, z.loc, z.addf(variance, epsilon)));
    z.stridedLoop(k.lane, d, z.idx(kWarp), [&](Emitter &w, Value c) {
      Value v = w.mulf(w.subf(w.load(x, {r, c}), mean), rstd);
      w.store(w.addf(w.mulf(v, w.load(gamma, {c})), w.load(beta, {c})), y,
              {r, c});
    });
  }
};

} // namespace

void gpu_kernels::populateGPUModelOpPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerEmbedding, LowerLayerNorm>(patterns.getContext());
}
