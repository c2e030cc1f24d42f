//===- LinalgBuilders.cpp - linalg on tensors used by the moa passes ------===//

#include "passes/LinalgBuilders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moa;

namespace {
SmallVector<AffineMap> fourLoopMaps(MLIRContext *ctx,
                                    ArrayRef<ArrayRef<unsigned>> operands) {
  SmallVector<AffineMap> maps;
  for (ArrayRef<unsigned> dims : operands) {
    SmallVector<AffineExpr> results;
    for (unsigned d : dims)
      results.push_back(getAffineDimExpr(d, ctx));
    maps.push_back(AffineMap::get(4, 0, results, ctx));
  }
  return maps;
}

Value contract(OpBuilder &b, Location loc, ValueRange inputs, Value init,
               ArrayRef<AffineMap> maps) {
  return linalg::ContractOp::create(b, loc, TypeRange{init.getType()}, inputs,
                                    ValueRange{init},
                                    b.getAffineMapArrayAttr(maps))
      .getResult(0);
}

Value zeros(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
            Type elementType) {
  Value empty = tensor::EmptyOp::create(b, loc, sizes, elementType);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}
} // namespace

SmallVector<AffineMap> mlir::moa::rowProjectionMaps(MLIRContext *ctx) {
  // (b, t, n, c): in (b, t, c), w (c, n), out (b, t, n).
  return fourLoopMaps(ctx, {{0, 1, 3}, {3, 2}, {0, 1, 2}});
}

SmallVector<AffineMap> mlir::moa::weightGradientMaps(MLIRContext *ctx) {
  // (b, t, c, n): in (b, t, c), g (b, t, n), out (c, n).
  return fourLoopMaps(ctx, {{0, 1, 2}, {0, 1, 3}, {2, 3}});
}

bool mlir::moa::onTensorsOrPlainBuffers(linalg::LinalgOp op, bool orBuffers) {
  if (op.hasPureTensorSemantics())
    return true;
  return orBuffers && op.hasPureBufferSemantics() &&
         llvm::all_of(op->getOperandTypes(), [](Type type) {
           auto memref = dyn_cast<MemRefType>(type);
           return memref && memref.getLayout().isIdentity();
         });
}

bool mlir::moa::isRowProjection(linalg::ContractOp op, bool orBuffers) {
  if (!op || !onTensorsOrPlainBuffers(op, orBuffers) ||
      op.getInputs().size() != 2 || op.getOutputs().size() != 1)
    return false;
  return op.getIndexingMapsArray() ==
             ArrayRef<AffineMap>(rowProjectionMaps(op.getContext())) &&
         isa<FloatType>(
             cast<ShapedType>(op.getOutputs()[0].getType()).getElementType());
}

bool mlir::moa::isZeroFill(Value tensor) {
  auto fill = tensor.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  Attribute value;
  if (!matchPattern(fill.getInputs()[0], m_Constant(&value)))
    return false;
  if (auto f = dyn_cast<FloatAttr>(value))
    return f.getValue().isZero();
  auto i = dyn_cast<IntegerAttr>(value);
  return i && i.getValue().isZero();
}

Value mlir::moa::projectRows(OpBuilder &b, Location loc, Value in, Value w,
                             Type elementType) {
  Value init = zeros(b, loc,
                     {tensor::getMixedSize(b, loc, in, 0),
                      tensor::getMixedSize(b, loc, in, 1),
                      tensor::getMixedSize(b, loc, w, 1)},
                     elementType);
  return contract(b, loc, {in, w}, init, rowProjectionMaps(b.getContext()));
}

Value mlir::moa::weightGradient(OpBuilder &b, Location loc, Value in, Value g) {
  Value init = zeros(
      b, loc,
      {tensor::getMixedSize(b, loc, in, 2), tensor::getMixedSize(b, loc, g, 2)},
      b.getF32Type());
  return contract(b, loc, {in, g}, init, weightGradientMaps(b.getContext()));
}

Value mlir::moa::emptyLike(OpBuilder &b, Location loc, Value like,
                           Type elementType) {
  auto type = cast<RankedTensorType>(like.getType());
  return tensor::EmptyOp::create(b, loc, tensor::getMixedSizes(b, loc, like),
                                 elementType ? elementType
                                             : type.getElementType());
}

Value mlir::moa::zerosLike(OpBuilder &b, Location loc, Value like) {
  return zeros(b, loc, tensor::getMixedSizes(b, loc, like),
               cast<RankedTensorType>(like.getType()).getElementType());
}

Value mlir::moa::transpose2D(OpBuilder &b, Location loc, Value matrix) {
  return transposeTensor(b, loc, matrix, {1, 0});
}

Value mlir::moa::transposeTensor(OpBuilder &b, Location loc, Value value,
                                 ArrayRef<int64_t> permutation) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, value);
  SmallVector<OpFoldResult> permuted;
  for (int64_t dim : permutation)
    permuted.push_back(sizes[dim]);
  Value init = tensor::EmptyOp::create(
      b, loc, permuted,
      cast<RankedTensorType>(value.getType()).getElementType());
  return linalg::TransposeOp::create(b, loc, value, init, permutation)
      ->getResult(0);
}

Value mlir::moa::expandTensor(OpBuilder &b, Location loc, Value value,
                              ArrayRef<ReassociationIndices> groups,
                              ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape;
  for (OpFoldResult size : sizes)
    shape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
  auto type = RankedTensorType::get(
      shape, cast<RankedTensorType>(value.getType()).getElementType());
  return tensor::ExpandShapeOp::create(b, loc, type, value, groups, sizes);
}

Value mlir::moa::collapseTensor(OpBuilder &b, Location loc, Value value,
                                ArrayRef<ReassociationIndices> groups) {
  return tensor::CollapseShapeOp::create(b, loc, value, groups);
}

Value mlir::moa::convertElements(OpBuilder &b, Location loc, Value value,
                                 Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  Type from = type.getElementType();
  if (from == elementType)
    return value;
  unsigned fromWidth = from.getIntOrFloatBitWidth(),
           toWidth = elementType.getIntOrFloatBitWidth();
  if (fromWidth == toWidth) // f16 <-> bf16: through f32
    value = convertElements(b, loc, value, b.getF32Type());
  if (fromWidth < toWidth)
    return arith::ExtFOp::create(b, loc, type.clone(elementType), value);
  return arith::TruncFOp::create(b, loc, type.clone(elementType), value);
}

Value mlir::moa::addTensors(OpBuilder &b, Location loc, Value x, Value y) {
  return linalg::AddOp::create(b, loc, ValueRange{x, y},
                               ValueRange{emptyLike(b, loc, x)})
      .getResult(0);
}

Value mlir::moa::subTensors(OpBuilder &b, Location loc, Value x, Value y) {
  return linalg::SubOp::create(b, loc, ValueRange{x, y},
                               ValueRange{emptyLike(b, loc, x)})
      .getResult(0);
}

Value mlir::moa::mulTensors(OpBuilder &b, Location loc, Value x, Value y) {
  return linalg::MulOp::create(b, loc, ValueRange{x, y},
                               ValueRange{emptyLike(b, loc, x)})
      .getResult(0);
}

Value mlir::moa::maxGradient(OpBuilder &b, Location loc, Value x, Value y,
                             Value g, bool larger) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<AffineMap> maps(4, b.getMultiDimIdentityMap(type.getRank()));
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{x, y, g},
             ValueRange{emptyLike(b, loc, x)}, maps, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value greater = arith::CmpFOp::create(
                   nb, nloc, arith::CmpFPredicate::OGT, args[0], args[1]);
               Value zero = arith::ConstantOp::create(
                   nb, nloc, nb.getZeroAttr(type.getElementType()));
               Value v = larger ? arith::SelectOp::create(nb, nloc, greater,
                                                          args[2], zero)
                                : arith::SelectOp::create(nb, nloc, greater,
                                                          zero, args[2]);
               linalg::YieldOp::create(nb, nloc, v);
             })
      .getResult(0);
}
