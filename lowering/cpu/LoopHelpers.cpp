//===- LoopHelpers.cpp - Helpers shared by the CPU op families ------------===//

#include "lowering/cpu/LoopPatterns.h"

using namespace mlir;
using namespace mlir::moa;
using namespace mlir::moa::loops;

Value loops::asRows(TensorBoundary &tb, Value buffer) {
  int64_t rank = cast<MemRefType>(buffer.getType()).getRank();
  if (rank == 2)
    return buffer;
  ReassociationIndices outer;
  for (int64_t i = 0; i + 1 < rank; ++i)
    outer.push_back(i);
  if (rank == 1)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc,
        MemRefType::get({1, ShapedType::kDynamic},
                        cast<MemRefType>(buffer.getType()).getElementType()),
        buffer, {{0, 1}},
        ArrayRef<OpFoldResult>{
            tb.e.b.getIndexAttr(1),
            memref::DimOp::create(tb.e.b, tb.e.loc, buffer, 0).getResult()});
  return tb.collapse(buffer, {outer, {rank - 1}});
}

Value loops::flatten(TensorBoundary &tb, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  int64_t rank = type.getRank();
  if (rank == 0)
    return memref::ExpandShapeOp::create(
        tb.e.b, tb.e.loc, MemRefType::get({1}, type.getElementType()), buffer,
        ArrayRef<ReassociationIndices>{},
        ArrayRef<OpFoldResult>{tb.e.b.getIndexAttr(1)});
  ReassociationIndices all;
  for (int64_t i = 0; i < rank; ++i)
    all.push_back(i);
  return rank == 1 ? buffer : tb.collapse(buffer, {all});
}

Value loops::numElements(TensorBoundary &tb, Value tensor) {
  Value n = tb.e.idx(1);
  for (int64_t i = 0, rank = cast<ShapedType>(tensor.getType()).getRank();
       i < rank; ++i)
    n = tb.e.mul(n, tb.dim(tensor, i));
  return n;
}

Value loops::allocLike(TensorBoundary &tb, Value tensor) {
  SmallVector<Value> sizes;
  for (int64_t i = 0, rank = cast<ShapedType>(tensor.getType()).getRank();
       i < rank; ++i)
    sizes.push_back(tb.dim(tensor, i));
  return tb.e.alloc(tb.e.b.getF32Type(), sizes);
}

void loops::fill(Emitter &e, Value buffer, Value count, Value value) {
  e.parallelElements(count,
                     [&](Emitter &x, Value i) { x.store(value, buffer, {i}); });
}

Value loops::loadScalar(TensorBoundary &tb, Value scalar) {
  return tb.e.load(tb.buffer(scalar), {});
}

std::pair<Value, Value> loops::softmaxStats(Emitter &e, Value buffer, Value row,
                                            Value n) {
  Value maximum =
      e.loop(e.idx(0), n, {negInf(e)}, [&](Emitter &x, Value i, ValueRange m) {
        return SmallVector<Value>{x.maxf(m[0], x.load(buffer, {row, i}))};
      })[0];
  Value sum =
      e.loop(e.idx(0), n, {e.f32(0)}, [&](Emitter &x, Value i, ValueRange s) {
        Value d = x.subf(x.load(buffer, {row, i}), maximum);
        return SmallVector<Value>{x.sum(s[0], x.exp(d))};
      })[0];
  return {maximum, sum};
}

Value loops::visibleKeys(Emitter &e, Value firstRow, Value rows, Value k,
                         Value keys, bool causal) {
  if (!causal)
    return keys;
  Value lastToken = e.div(e.sub(e.add(firstRow, rows), e.idx(1)), k);
  return e.min(e.add(lastToken, e.idx(1)), keys);
}

Value loops::inRange(Emitter &e, Value v, Value lo, Value hi) {
  return e.andI(e.cmp(arith::CmpIPredicate::sge, v, lo),
                e.cmp(arith::CmpIPredicate::slt, v, hi));
}

Value loops::indicesInRange(TensorBoundary &tb, Value indices, Value count,
                            Value lo, Value hi) {
  Emitter &e = tb.e;
  return e.loop(
      e.idx(0), count, {e.cmp(arith::CmpIPredicate::eq, e.idx(0), e.idx(0))},
      [&](Emitter &x, Value i, ValueRange acc) {
        Value v = x.toIndex(x.load(indices, {i}));
        return SmallVector<Value>{x.andI(acc[0], inRange(x, v, lo, hi))};
      })[0];
}

void loops::guardIndices(TensorBoundary &tb, Value indices, Value count,
                         Value lo, Value hi, function_ref<void(Emitter &)> body,
                         FailureCode code) {
  tb.guard(indicesInRange(tb, indices, count, lo, hi), code, body);
}

void loops::checkExpertIndices(TensorBoundary &tb, Value indices, Value count,
                               Value experts) {
  Value ok = indicesInRange(tb, indices, count, tb.e.idx(-1), experts);
  tb.e.ifThen(tb.e.notI(ok), [&](Emitter &x) {
    x.fail(tb.module, FailureCode::ExpertIndexOutOfRange);
  });
}

Value loops::attentionScale(Emitter &e, std::optional<APFloat> scale, Value h) {
  if (scale)
    return e.f32(scale->convertToFloat());
  return math::RsqrtOp::create(
      e.b, e.loc,
      arith::UIToFPOp::create(
          e.b, e.loc, e.b.getF32Type(),
          arith::IndexCastUIOp::create(e.b, e.loc, e.b.getI64Type(), h)));
}

Value loops::visibleInBlock(Emitter &y, Value r, Value firstRow, Value k,
                            bool causal, Value visibleKeys, Value first,
                            Value count) {
  Value t = y.div(y.add(firstRow, r), k);
  Value visible = causal ? y.min(y.add(t, y.idx(1)), visibleKeys) : visibleKeys;
  return y.min(count, arith::MaxSIOp::create(y.b, y.loc, y.idx(0),
                                             y.sub(visible, first)));
}

loops::AttentionOperands::AttentionOperands(TensorBoundary &tb, Value keyTensor,
                                            Value valueTensor, Value maskTensor,
                                            Value k, Value h,
                                            std::optional<APFloat> scale,
                                            bool causal)
    : module(tb.module), key(tb.buffer(keyTensor)),
      value(tb.buffer(valueTensor)),
      mask(maskTensor ? tb.buffer(maskTensor) : Value()), k(k), h(h),
      scale(attentionScale(tb.e, scale, h)), causal(causal) {}

Value loops::transposedPerBatch(Emitter &e, Value rows, Value batch, Value keys,
                                Value h, Value factor) {
  Value result =
      e.alloc(getElementTypeOrSelf(rows.getType()), {batch, h, keys});
  Value block = e.idx(64);
  e.parallel({batch, e.ceilDiv(keys, block)}, [&](Emitter &p, ValueRange ivs) {
    Value first = p.mul(ivs[1], block);
    Value count = p.min(block, p.sub(keys, first));
    p.loop(p.idx(0), h, [&](Emitter &x, Value c) {
      x.loop(first, x.add(first, count), [&](Emitter &y, Value s) {
        Value v = y.load(rows, {ivs[0], s, c});
        y.store(factor ? y.mulf(factor, v) : v, result, {ivs[0], c, s});
      });
    });
  });
  return result;
}

Value loops::AttentionOperands::scaledKeysTransposed(Emitter &e, Value batch,
                                                     Value keys) const {
  return transposedPerBatch(e, key, batch, keys, h, scale);
}

Value loops::AttentionOperands::valuesTransposed(Emitter &e, Value batch,
                                                 Value keys) const {
  return transposedPerBatch(e, value, batch, keys, h, Value());
}

void loops::AttentionOperands::checkSizes(
    TensorBoundary &tb, Value keyTensor, Value valueTensor, Value maskTensor,
    Value batch, Value keys, Value h,
    SmallVectorImpl<std::pair<Value, Value>> &sizes) {
  tb.nameOperands({{keyTensor, "key"},
                   {valueTensor, "value"},
                   {maskTensor, "key_padding_mask"}});
  sizes.append({{tb.dim(keyTensor, 0), batch},
                {tb.dim(valueTensor, 0), batch},
                {tb.dim(valueTensor, 1), keys},
                {tb.dim(keyTensor, 2), h},
                {tb.dim(valueTensor, 2), h}});
  if (maskTensor)
    sizes.append(
        {{tb.dim(maskTensor, 0), batch}, {tb.dim(maskTensor, 1), keys}});
}

/// Rows of a weight packed per task (even: moa_rt_pack_bf16's ranges start
/// at even rows).
static constexpr int64_t kPackRows = 64;

bool loops::isBf16Product(Value a, Value w) {
  return getElementTypeOrSelf(a.getType()).isBF16() &&
         getElementTypeOrSelf(w.getType()).isBF16();
}

Value loops::packedBf16Weight(Emitter &e, ModuleOp module, Value w,
                              bool transposed) {
  const int64_t rank = cast<MemRefType>(w.getType()).getRank();
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < rank; ++i)
    sizes.push_back(memref::DimOp::create(e.b, e.loc, w, i));
  Value wRows = sizes[rank - 2], wColumns = sizes[rank - 1];
  // The packed matrix [K, N]: w, or w^T.
  Value kDim = transposed ? wColumns : wRows;
  Value nDim = transposed ? wRows : wColumns;
  SmallVector<Value> tasks(sizes.begin(), sizes.end() - 2);
  SmallVector<Value> packedSizes(tasks);
  packedSizes.append({kDim, nDim});
  Value packed = e.alloc(e.b.getF32Type(), packedSizes);
  Value chunk = e.idx(kPackRows);
  tasks.push_back(e.ceilDiv(kDim, chunk));
  e.parallel(tasks, [&](Emitter &p, ValueRange ivs) {
    Value expert = rank == 3 ? ivs[0] : Value();
    Value first = p.mul(ivs.back(), chunk);
    p.packBf16(module, p.rows(w, p.idx(0), wRows, wColumns, expert),
               p.rows(packed, p.idx(0), kDim, nDim, expert), first,
               p.min(chunk, p.sub(kDim, first)), transposed);
  });
  return packed;
}
