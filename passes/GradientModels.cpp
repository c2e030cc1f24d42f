//===- GradientModels.cpp - Reverse-mode rules of upstream ops ------------===//
//
// GradientOpInterface external models for the linalg, tensor and arith ops
// that moa models contain: row projections (linalg.contract), elementwise
// linalg.add/sub/mul/max, scalar arith.addf/subf/mulf on 0-d tensors, the
// head folding of multi-head attention (linalg.transpose,
// tensor.expand_shape and tensor.collapse_shape), and the sources that
// nothing flows back through (linalg.fill, tensor.empty, arith.constant).
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

using namespace mlir;
using namespace mlir::moa;

namespace {

/// Ops whose operands receive no gradient (sources and fills).
template <typename OpTy>
struct NoGradientModel
    : GradientOpInterface::ExternalModel<NoGradientModel<OpTy>, OpTy> {
  LogicalResult emitAdjoints(Operation *, OpBuilder &, ArrayRef<Value>,
                             MutableArrayRef<Value>) const {
    return success();
  }
};

/// out = init + x[b, t, c] w[c, n]: dx = g w^T, dw = x^T g, dinit = g.
struct RowProjectionModel
    : GradientOpInterface::ExternalModel<RowProjectionModel,
                                         linalg::ContractOp> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto contract = cast<linalg::ContractOp>(op);
    if (contract.getIndexingMapsArray() !=
        ArrayRef<AffineMap>(rowProjectionMaps(op->getContext())))
      return op->emitError("moa-generate-gradients: only row projections "
                           "(x[b, t, c] w[c, n]) are differentiated among "
                           "linalg.contract ops");
    Location loc = op->getLoc();
    Value x = contract.getInputs()[0], w = contract.getInputs()[1];
    Type xElement = cast<RankedTensorType>(x.getType()).getElementType();
    // The gradient is read in the rows' precision (rounded where they are
    // bf16: mixed precision's rounding point of a bf16 GEMM's input) and
    // both products accumulate in f32; the rows' gradient is rounded to
    // their precision once.
    Value g = convertElements(b, loc, resultAdjoints[0], xElement);
    Value dx = projectRows(b, loc, g, transpose2D(b, loc, w), b.getF32Type());
    operandAdjoints[0] = convertElements(b, loc, dx, xElement);
    operandAdjoints[1] = weightGradient(b, loc, x, g);
    operandAdjoints[2] = resultAdjoints[0];
    return success();
  }
};

/// A permutation's adjoint is the inverse permutation of the gradient.
struct TransposeModel
    : GradientOpInterface::ExternalModel<TransposeModel, linalg::TransposeOp> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto transpose = cast<linalg::TransposeOp>(op);
    if (!isa<RankedTensorType>(transpose.getInput().getType()))
      return op->emitError("moa-generate-gradients: linalg.transpose on "
                           "buffers is not differentiated");
    ArrayRef<int64_t> permutation = transpose.getPermutation();
    SmallVector<int64_t> inverse(permutation.size());
    for (auto [i, dim] : llvm::enumerate(permutation))
      inverse[dim] = i;
    operandAdjoints[0] =
        transposeTensor(b, op->getLoc(), resultAdjoints[0], inverse);
    return success();
  }
};

/// A reshape's adjoint is the opposite reshape of the gradient.
struct ExpandShapeModel
    : GradientOpInterface::ExternalModel<ExpandShapeModel,
                                         tensor::ExpandShapeOp> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto expand = cast<tensor::ExpandShapeOp>(op);
    operandAdjoints[0] = collapseTensor(b, op->getLoc(), resultAdjoints[0],
                                        expand.getReassociationIndices());
    return success();
  }
};

struct CollapseShapeModel
    : GradientOpInterface::ExternalModel<CollapseShapeModel,
                                         tensor::CollapseShapeOp> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto collapse = cast<tensor::CollapseShapeOp>(op);
    Location loc = op->getLoc();
    operandAdjoints[0] = expandTensor(
        b, loc, resultAdjoints[0], collapse.getReassociationIndices(),
        tensor::getMixedSizes(b, loc, collapse.getSrc()));
    return success();
  }
};

/// d(x + y) = (g, g); d(x - y) = (g, -g); d(x * y) = (g y, g x);
/// d max(x, y) goes to the larger operand.
template <typename OpTy>
struct BinaryLinalgModel
    : GradientOpInterface::ExternalModel<BinaryLinalgModel<OpTy>, OpTy> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto binary = cast<OpTy>(op);
    Location loc = op->getLoc();
    Value g = resultAdjoints[0];
    Value x = binary.getInputs()[0], y = binary.getInputs()[1];
    if constexpr (std::is_same_v<OpTy, linalg::AddOp>) {
      operandAdjoints[0] = operandAdjoints[1] = g;
    } else if constexpr (std::is_same_v<OpTy, linalg::SubOp>) {
      operandAdjoints[0] = g;
      operandAdjoints[1] = subTensors(b, loc, zerosLike(b, loc, g), g);
    } else if constexpr (std::is_same_v<OpTy, linalg::MulOp>) {
      operandAdjoints[0] = mulTensors(b, loc, g, y);
      operandAdjoints[1] = mulTensors(b, loc, g, x);
    } else {
      operandAdjoints[0] = maxGradient(b, loc, x, y, g, /*larger=*/true);
      operandAdjoints[1] = maxGradient(b, loc, x, y, g, /*larger=*/false);
    }
    return success();
  }
};

/// Scalar arithmetic on tensors (a loss = ce + 0.01 * aux, ...).
template <typename OpTy>
struct ScalarArithModel
    : GradientOpInterface::ExternalModel<ScalarArithModel<OpTy>, OpTy> {
  LogicalResult emitAdjoints(Operation *op, OpBuilder &b,
                             ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) const {
    auto arith = cast<OpTy>(op);
    Location loc = op->getLoc();
    Value g = resultAdjoints[0];
    if constexpr (std::is_same_v<OpTy, arith::AddFOp>) {
      operandAdjoints[0] = operandAdjoints[1] = g;
    } else if constexpr (std::is_same_v<OpTy, arith::SubFOp>) {
      operandAdjoints[0] = g;
      operandAdjoints[1] = arith::NegFOp::create(b, loc, g);
    } else {
      operandAdjoints[0] = arith::MulFOp::create(b, loc, g, arith.getRhs());
      operandAdjoints[1] = arith::MulFOp::create(b, loc, g, arith.getLhs());
    }
    return success();
  }
};

} // namespace

void mlir::moa::registerGradientExternalModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, linalg::LinalgDialect *) {
    linalg::ContractOp::attachInterface<RowProjectionModel>(*ctx);
    linalg::AddOp::attachInterface<BinaryLinalgModel<linalg::AddOp>>(*ctx);
    linalg::SubOp::attachInterface<BinaryLinalgModel<linalg::SubOp>>(*ctx);
    linalg::MulOp::attachInterface<BinaryLinalgModel<linalg::MulOp>>(*ctx);
    linalg::MaxOp::attachInterface<BinaryLinalgModel<linalg::MaxOp>>(*ctx);
    linalg::FillOp::attachInterface<NoGradientModel<linalg::FillOp>>(*ctx);
    linalg::TransposeOp::attachInterface<TransposeModel>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, tensor::TensorDialect *) {
    tensor::EmptyOp::attachInterface<NoGradientModel<tensor::EmptyOp>>(*ctx);
    tensor::ExpandShapeOp::attachInterface<ExpandShapeModel>(*ctx);
    tensor::CollapseShapeOp::attachInterface<CollapseShapeModel>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::AddFOp::attachInterface<ScalarArithModel<arith::AddFOp>>(*ctx);
    arith::SubFOp::attachInterface<ScalarArithModel<arith::SubFOp>>(*ctx);
    arith::MulFOp::attachInterface<ScalarArithModel<arith::MulFOp>>(*ctx);
    arith::ConstantOp::attachInterface<NoGradientModel<arith::ConstantOp>>(
        *ctx);
  });
}
