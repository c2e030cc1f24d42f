//===- OperandRows.h - moa operands as rows of buffers ----------*- C++ -*-===//
//
// The views of moa operands that the CPU loops and the GPU kernels share:
// dispatch groups and pair positions of moa.dispatch's layout, the grouped
// matmul's rows and the router logits' rows, with the size checks each
// lowering makes before it reads them.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_LOWERING_COMMON_OPERANDROWS_H
#define MOA_LOWERING_COMMON_OPERANDROWS_H

#include "lowering/common/LoopEmitter.h"

namespace mlir::moa::loops {

inline Value negInf(Emitter &e) {
  return e.f32(-std::numeric_limits<float>::infinity());
}
/// off[i] as an index.
inline Value offsetAt(Emitter &x, Value off, Value i) {
  return x.toIndex(x.load(off, {i}));
}

/// The dispatch group of pair `pair` of the flat [B*T*k] expert indices:
/// its expert, or `numExperts` for index -1 and invalid indices; and whether
/// the index is invalid (neither -1 nor in [0, E)).
inline std::pair<Value, Value> dispatchGroup(Emitter &x, Value indices,
                                             Value pair, Value numExperts) {
  Value expert = x.toIndex(x.load(indices, {pair}));
  Value valid = x.andI(x.cmp(arith::CmpIPredicate::sge, expert, x.idx(0)),
                       x.cmp(arith::CmpIPredicate::slt, expert, numExperts));
  return {x.select(valid, expert, numExperts),
          x.andI(x.notI(valid),
                 x.cmp(arith::CmpIPredicate::ne, expert, x.idx(-1)))};
}

/// Checks that `perm` and `off` (from moa.dispatch) group `pairs` (token,
/// slot) pairs by expert: offsets start at 0 and never decrease, at most
/// `pairs` are dispatched and no pair appears twice. Reports
/// GroupedMatmulBadPermutation unless `ok` and all of that hold; otherwise
/// runs body(position, dispatched), where position[pair] is the pair's row
/// in expert order (-1 if not dispatched) and `dispatched` = off[E].
inline void
withPairPositions(TensorBoundary &tb, Value ok, Value perm, Value off,
                  Value numExperts, Value pairs,
                  function_ref<void(Emitter &, Value, Value)> body) {
  tb.guard(ok, FailureCode::GroupedMatmulBadPermutation, [&](Emitter &g) {
    Value monotone = g.loop(
        g.idx(0), numExperts,
        {g.cmp(arith::CmpIPredicate::eq, offsetAt(g, off, g.idx(0)), g.idx(0))},
        [&](Emitter &x, Value ex, ValueRange acc) {
          return SmallVector<Value>{x.andI(
              acc[0], x.cmp(arith::CmpIPredicate::sle, offsetAt(x, off, ex),
                            offsetAt(x, off, x.add(ex, x.idx(1)))))};
        })[0];
    Value dispatched = offsetAt(g, off, numExperts);
    Value inRange =
        g.andI(monotone, g.cmp(arith::CmpIPredicate::sle, dispatched, pairs));
    Value position = g.alloc(g.b.getIndexType(), {pairs});
    g.loop(g.idx(0), pairs,
           [&](Emitter &x, Value p) { x.store(x.idx(-1), position, {p}); });
    Value unique = g.loop(
        g.idx(0), g.select(inRange, dispatched, g.idx(0)), {inRange},
        [&](Emitter &x, Value r, ValueRange acc) {
          Value pair = x.toIndex(x.load(perm, {r}));
          Value valid = x.andI(x.cmp(arith::CmpIPredicate::sge, pair, x.idx(0)),
                               x.cmp(arith::CmpIPredicate::slt, pair, pairs));
          Value safe = x.select(valid, pair, x.idx(0));
          Value fresh =
              x.andI(valid, x.cmp(arith::CmpIPredicate::slt,
                                  x.load(position, {safe}), x.idx(0)));
          x.ifThen(fresh, [&](Emitter &y) { y.store(r, position, {pair}); });
          return SmallVector<Value>{x.andI(acc[0], fresh)};
        })[0];
    tb.guard(unique, FailureCode::GroupedMatmulBadPermutation,
             [&](Emitter &v) { body(v, position, dispatched); });
  });
}

/// The operands of moa.grouped_matmul and moa.grouped_matmul_grad as
/// buffers, rows first ([B*T, K] per token or [B*T*k, K] per pair), with the
/// sizes and checks their lowerings share: f32 (widened) for the CPU loops,
/// in their own element types for the GPU kernels.
struct GroupedRows {
  /// Which operands become f32 buffers first. The CPU forward widens the
  /// input's rows as it gathers them, the GPU kernels as they load tiles.
  enum class Widen { Nothing, Weight, InputAndWeight };

  GroupedRows(TensorBoundary &tb, Value inputOperand, Value weightOperand,
              Value permutation, Value offsets, Value gatesOperand,
              Widen widen = Widen::InputAndWeight)
      : combine(bool(gatesOperand)),
        tokenRows(cast<ShapedType>(inputOperand.getType()).getRank() == 3),
        inputTensor(widen == Widen::InputAndWeight ? tb.toF32(inputOperand)
                                                   : inputOperand),
        weightTensor(widen != Widen::Nothing ? tb.toF32(weightOperand)
                                             : weightOperand),
        gatesTensor(gatesOperand), permTensor(permutation), offTensor(offsets) {
    Emitter &e = tb.e;
    tb.nameOperands({{inputTensor, "input"},
                     {weightTensor, "weight"},
                     {gatesTensor, "gates"},
                     {permTensor, "permutation"},
                     {offTensor, "offsets"}});
    batch = tb.dim(inputTensor, 0);
    length = tb.dim(inputTensor, 1);
    tokens = e.mul(batch, length);
    numExperts = tb.dim(weightTensor, 0);
    kDim = tb.dim(weightTensor, 1);
    nDim = tb.dim(weightTensor, 2);
    input = tb.collapse(tb.buffer(inputTensor), rowGroups(tokenRows));
    weight = tb.buffer(weightTensor);
    perm = tb.buffer(permutation);
    off = tb.buffer(offsets);
    gates =
        combine ? tb.collapse(tb.buffer(gatesOperand), {{0, 1, 2}}) : Value();
  }

  /// Only i32 groupings are lowered.
  static bool isI32(Value permutation, Value offsets) {
    auto elementType = [](Value v) {
      return cast<ShapedType>(v.getType()).getElementType();
    };
    return elementType(permutation).isInteger(32) &&
           elementType(offsets).isInteger(32);
  }

  /// [B, T, X] (perToken) or [B, T, k, X] as rows of X.
  static SmallVector<ReassociationIndices> rowGroups(bool perToken) {
    return perToken ? SmallVector<ReassociationIndices>{{0, 1}, {2}}
                    : SmallVector<ReassociationIndices>{{0, 1, 2}, {3}};
  }

  /// k of moa.grouped_matmul with result `result`: the gates' last size
  /// (combine), the result's third ([B, T, k, N]), or |permutation| / (B*T)
  /// when only the permutation knows it.
  Value slots(TensorBoundary &tb, Value result) const {
    Emitter &e = tb.e;
    if (combine)
      return tb.dim(gatesTensor, 2);
    if (!cast<ShapedType>(result.getType()).isDynamicDim(2))
      return tb.dim(result, 2);
    return e.div(tb.dim(permTensor, 0),
                 arith::MaxUIOp::create(e.b, e.loc, tokens, e.idx(1)));
  }

  /// The input's K (and k) and the gates' B and T against the weight's and
  /// the input's sizes.
  SmallVector<std::pair<Value, Value>> sizeChecks(TensorBoundary &tb,
                                                  Value k) const {
    SmallVector<std::pair<Value, Value>> sizes = {
        {tb.dim(inputTensor, tokenRows ? 2 : 3), kDim}};
    if (!tokenRows)
      sizes.push_back({tb.dim(inputTensor, 2), k});
    if (combine)
      sizes.append(
          {{tb.dim(gatesTensor, 0), batch}, {tb.dim(gatesTensor, 1), length}});
    return sizes;
  }

  /// The permutation has `pairs` entries and the offsets E + 1.
  Value groupingSizesOk(TensorBoundary &tb, Value pairs) const {
    Emitter &e = tb.e;
    return e.andI(e.cmp(arith::CmpIPredicate::eq, tb.dim(permTensor, 0), pairs),
                  e.cmp(arith::CmpIPredicate::eq, tb.dim(offTensor, 0),
                        e.add(numExperts, e.idx(1))));
  }

  const bool combine, tokenRows;
  Value inputTensor, weightTensor, gatesTensor, permTensor, offTensor;
  Value batch, length, tokens, numExperts, kDim, nDim;
  Value input, weight, perm, off, gates;
};

/// Router logits [B, T, E] as rows [tokens, E], with the optional [B, T]
/// query padding mask as [tokens] and sizes checked (`extraSizes` too): what
/// the auxiliary losses and their gradients read.
struct LogitRows {
  LogitRows(TensorBoundary &tb, Value logitsTensor, Value maskTensor,
            ArrayRef<std::pair<Value, Value>> extraSizes = {}) {
    Emitter &e = tb.e;
    tb.nameOperands(
        {{logitsTensor, "logits"}, {maskTensor, "query_padding_mask"}});
    batch = tb.dim(logitsTensor, 0);
    length = tb.dim(logitsTensor, 1);
    experts = tb.dim(logitsTensor, 2);
    SmallVector<std::pair<Value, Value>> sizes(extraSizes);
    if (maskTensor)
      sizes.append(
          {{tb.dim(maskTensor, 0), batch}, {tb.dim(maskTensor, 1), length}});
    tokens = tb.checkedCount(sizes, e.mul(batch, length));
    logits = tb.collapse(tb.buffer(logitsTensor), {{0, 1}, {2}});
    mask = maskTensor ? tb.collapse(tb.buffer(maskTensor), {{0, 1}}) : Value();
  }

  /// Whether token t is padded (false without a mask).
  Value padded(Emitter &x, Value t) const {
    return mask ? x.load(mask, {t})
                : x.cmp(arith::CmpIPredicate::ne, x.idx(0), x.idx(0));
  }

  Value batch, length, experts, tokens, logits, mask;
};

} // namespace mlir::moa::loops

#endif // MOA_LOWERING_COMMON_OPERANDROWS_H
