//===- Gradient.cpp - Reverse-mode differentiation of a body --------------===//
//
// The rules are GradientOpInterface implementations (moa ops in
// dialect/Gradients.cpp, upstream ops in GradientModels.cpp): each reads the
// adjoints of an op's results and returns the adjoints of its operands,
// which are accumulated here. No gradient flows through integer values. The
// moa backward ops recompute what they need (router softmax, attention
// scores) from the forward values, which the replayed body provides.
//
//===----------------------------------------------------------------------===//

#include "passes/Gradient.h"
#include "dialect/MoAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "passes/LinalgBuilders.h"
#include "passes/Passes.h"

using namespace mlir;
using namespace mlir::moa;

namespace {

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// Adjoints of bf16/f16 values accumulate in f32.
Type accumulationType(Type element) {
  return element.getIntOrFloatBitWidth() < 32
             ? Float32Type::get(element.getContext())
             : element;
}

class AdjointBuilder {
public:
  AdjointBuilder(OpBuilder &b) : b(b) {}

  /// adjoint(v) += g. Adjoints accumulate in f32 at least (that of a bf16
  /// value is kept in f32, see adjointOf); a gradient of another
  /// static/dynamic shape is cast.
  void add(Value v, Value g) {
    if (!g || !isFloatTensor(v))
      return;
    auto type = cast<RankedTensorType>(v.getType());
    auto want = type.clone(accumulationType(type.getElementType()));
    g = convertElements(b, v.getLoc(), g, want.getElementType());
    if (g.getType() != want) {
      if (!tensor::CastOp::areCastCompatible(g.getType(), want)) {
        if (!failed_)
          emitError(v.getLoc())
              << "moa-generate-gradients: the gradient of a value of type "
              << type << " has the shape of " << g.getType();
        failed_ = true;
        return;
      }
      g = tensor::CastOp::create(b, v.getLoc(), want, g);
    }
    auto [it, inserted] = adjoints.try_emplace(v, g);
    if (!inserted)
      it->second = addTensors(b, v.getLoc(), it->second, g);
  }
  /// The adjoint of `v` in `v`'s type (rounded where `v` is bf16: the
  /// rounding point of a low-precision backward op's input), or null.
  Value adjointOf(Value v) {
    Value g = adjoints.lookup(v);
    if (!g)
      return g;
    return convertElements(
        b, v.getLoc(), g, cast<RankedTensorType>(v.getType()).getElementType());
  }
  /// The adjoint of `v`, zeros if nothing flowed to it.
  Value orZeros(Value v) {
    Value g = adjointOf(v);
    return g ? g : zerosLike(b, v.getLoc(), v);
  }

  /// Applies `op`'s GradientOpInterface rule to the adjoints of its results.
  LogicalResult differentiate(Operation *op);
  bool hasFailed() const { return failed_; }

private:
  OpBuilder &b;
  DenseMap<Value, Value> adjoints;
  bool failed_ = false;
};

LogicalResult AdjointBuilder::differentiate(Operation *op) {
  // Precision casts (mixed precision) pass the adjoint, accumulated in f32,
  // straight through: no rounding on the way.
  if (isa<arith::TruncFOp, arith::ExtFOp>(op)) {
    if (isFloatTensor(op->getResult(0)))
      add(op->getOperand(0), adjoints.lookup(op->getResult(0)));
    return success();
  }
  // Nothing to do unless a float result has an adjoint.
  SmallVector<Value> resultAdjoints;
  for (Value result : op->getResults())
    resultAdjoints.push_back(isFloatTensor(result) ? adjointOf(result)
                                                   : Value());
  if (llvm::all_of(resultAdjoints, [](Value g) { return !g; }))
    return success();
  auto rule = dyn_cast<GradientOpInterface>(op);
  if (!rule)
    return op->emitError() << "moa-generate-gradients: no gradient rule for '"
                           << op->getName() << "'";
  SmallVector<Value> operandAdjoints(op->getNumOperands());
  if (failed(rule.emitAdjoints(b, resultAdjoints, operandAdjoints)))
    return failure();
  for (auto [operand, g] : llvm::zip_equal(op->getOperands(), operandAdjoints))
    add(operand, g);
  return success();
}

/// A copy of `op` for the forward pass that the gradient follows; an
/// attention also returns its rows' log-sum-exp (with_lse), which its
/// backward then reads instead of recomputing.
Operation *replay(OpBuilder &b, Operation &op, IRMapping &mapping) {
  auto attention = dyn_cast<MultiQueryAttentionOp>(op);
  if (!attention || attention.getWithLse())
    return b.clone(op, mapping);
  Value mask = attention.getKeyPaddingMask();
  auto copy = MultiQueryAttentionOp::create(
      b, attention.getLoc(), mapping.lookupOrDefault(attention.getQuery()),
      mapping.lookupOrDefault(attention.getKey()),
      mapping.lookupOrDefault(attention.getValue()),
      mask ? mapping.lookupOrDefault(mask) : Value(), attention.getCausalAttr(),
      attention.getScaleAttr(), b.getUnitAttr());
  mapping.map(attention.getResult(), copy.getResult());
  return copy;
}

} // namespace

FailureOr<Gradient> mlir::moa::emitGradient(OpBuilder &b, func::FuncOp source,
                                            ValueRange arguments,
                                            ArrayRef<Value> seeds) {
  if (!source.getBody().hasOneBlock())
    return source.emitError(
        "moa-generate-gradients: the function must have a single block");
  Block &body = source.getBody().front();
  IRMapping mapping;
  mapping.map(body.getArguments(), arguments);
  SmallVector<Operation *> replayed;
  for (Operation &op : body.without_terminator())
    replayed.push_back(replay(b, op, mapping));

  Gradient gradient;
  for (Value v : body.getTerminator()->getOperands())
    gradient.results.push_back(mapping.lookupOrDefault(v));
  AdjointBuilder adjoints(b);
  for (auto [result, seed] : llvm::zip_equal(gradient.results, seeds))
    adjoints.add(result, seed);
  for (Operation *op : llvm::reverse(replayed))
    if (failed(adjoints.differentiate(op)) || adjoints.hasFailed())
      return failure();
  for (Value argument : arguments)
    gradient.argumentGradients.push_back(
        isFloatTensor(argument) ? adjoints.orZeros(argument) : Value());
  return gradient;
}

FailureOr<func::FuncOp> mlir::moa::decomposedCopy(func::FuncOp func,
                                                  FloatType lowPrecision) {
  func::FuncOp copy = func.clone();
  if (failed(decomposeAttentionLayers(copy)) ||
      (lowPrecision && failed(castToMixedPrecision(copy, lowPrecision)))) {
    copy.erase();
    return failure();
  }
  return copy;
}
