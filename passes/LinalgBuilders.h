//===- LinalgBuilders.h - linalg on tensors used by the moa passes -*- C++ -*-//
//
// The few tensor computations moa-decompose and the gradient passes emit, and
// whose forms moa-lower-to-loops recognises (it matches the same indexing
// maps): row projections, their weight gradients, and elementwise helpers.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_PASSES_LINALGBUILDERS_H
#define MOA_PASSES_LINALGBUILDERS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::moa {

/// Indexing maps of out[b, t, n] = sum_c in[b, t, c] * w[c, n], over loops
/// (b, t, n, c).
SmallVector<AffineMap> rowProjectionMaps(MLIRContext *ctx);
/// Indexing maps of out[c, n] = sum_{b, t} in[b, t, c] * g[b, t, n], over
/// loops (b, t, c, n).
SmallVector<AffineMap> weightGradientMaps(MLIRContext *ctx);

/// A linalg.contract of rowProjectionMaps on tensors with a float result:
/// [B, T, K] x [K, N] (+ init) -> [B, T, N] (the router and the shared K/V
/// projections as moa-decompose emits them). With `orBuffers`, also the
/// bufferized form (memrefs with identity layouts).
bool isRowProjection(linalg::ContractOp op, bool orBuffers = false);
/// `op` works on tensors, or (`orBuffers`) on memrefs with identity layouts.
bool onTensorsOrPlainBuffers(linalg::LinalgOp op, bool orBuffers);
/// A zero-filled tensor (linalg.fill of 0), whose reads a lowering may skip.
bool isZeroFill(Value tensor);

/// out[b, t, n] = sum_c in[b, t, c] * w[c, n], accumulated and returned in
/// `elementType` (linalg.contract casts its inputs to the accumulator type).
Value projectRows(OpBuilder &b, Location loc, Value in, Value w,
                  Type elementType);
/// out[c, n] = sum_{b, t} in[b, t, c] * g[b, t, n] in f32.
Value weightGradient(OpBuilder &b, Location loc, Value in, Value g);

/// An empty tensor with the shape (static and dynamic sizes) of `like`.
Value emptyLike(OpBuilder &b, Location loc, Value like, Type elementType = {});
/// A tensor of zeros shaped like `like`.
Value zerosLike(OpBuilder &b, Location loc, Value like);
/// The 2-D transpose of `matrix`.
Value transpose2D(OpBuilder &b, Location loc, Value matrix);
/// `value` with its dimensions permuted: result dimension i is dimension
/// permutation[i] of `value` (linalg.transpose).
Value transposeTensor(OpBuilder &b, Location loc, Value value,
                      ArrayRef<int64_t> permutation);
/// tensor.expand_shape of `value` into `sizes` (static or dynamic), grouped
/// by `groups`, and tensor.collapse_shape of `value` by `groups`: the
/// reshapes that fold attention heads into the batch.
Value expandTensor(OpBuilder &b, Location loc, Value value,
                   ArrayRef<ReassociationIndices> groups,
                   ArrayRef<OpFoldResult> sizes);
Value collapseTensor(OpBuilder &b, Location loc, Value value,
                     ArrayRef<ReassociationIndices> groups);
/// `value` with its elements converted to `elementType` (arith.extf or
/// arith.truncf on the tensor; itself if it has that type already).
Value convertElements(OpBuilder &b, Location loc, Value value,
                      Type elementType);

/// x + y, x - y and x * y elementwise (linalg named ops).
Value addTensors(OpBuilder &b, Location loc, Value x, Value y);
Value subTensors(OpBuilder &b, Location loc, Value x, Value y);
Value mulTensors(OpBuilder &b, Location loc, Value x, Value y);
/// select(x > y, g, 0) (`larger` true) or select(x > y, 0, g), elementwise:
/// the gradient of max(x, y) for each operand (ties go to y).
Value maxGradient(OpBuilder &b, Location loc, Value x, Value y, Value g,
                  bool larger);

} // namespace mlir::moa

#endif // MOA_PASSES_LINALGBUILDERS_H
