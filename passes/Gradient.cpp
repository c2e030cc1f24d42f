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

class AdjointBuilder {
public:
  AdjointBuilder(OpBuilder &b) : b(b) {}

  /// adjoint(v) += g. A gradient of another static/dynamic shape is cast;
  /// one of another element type (a bf16 weight under an f32 contraction)
  /// cannot be used: that is reported and differentiation fails.
  void add(Value v, Value g) {
    if (!g || !isFloatTensor(v))
      return;
    if (g.getType() != v.getType()) {
      auto want = cast<RankedTensorType>(v.getType());
      auto have = cast<RankedTensorType>(g.getType());
      if (want.getElementType() != have.getElementType() ||
          !tensor::CastOp::areCastCompatible(have, want)) {
        if (!failed_)
          emitError(v.getLoc())
              << "moa-generate-gradients: the gradient of a value of type "
              << want << " has type " << have
              << " (differentiation is in f32: use f32 parameters and "
                 "activations)";
        failed_ = true;
        return;
      }
      g = tensor::CastOp::create(b, v.getLoc(), want, g);
    }
    auto [it, inserted] = adjoints.try_emplace(v, g);
    if (!inserted)
      it->second = addTensors(b, v.getLoc(), it->second, g);
  }
  Value lookup(Value v) const { return adjoints.lookup(v); }
  /// The adjoint of `v`, zeros if nothing flowed to it.
  Value orZeros(Value v) {
    Value g = lookup(v);
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
  // Nothing to do unless a float result has an adjoint.
  SmallVector<Value> resultAdjoints;
  for (Value result : op->getResults())
    resultAdjoints.push_back(isFloatTensor(result) ? lookup(result) : Value());
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

FailureOr<func::FuncOp> mlir::moa::decomposedCopy(func::FuncOp func) {
  func::FuncOp copy = func.clone();
  if (failed(decomposeAttentionLayers(copy))) {
    copy.erase();
    return failure();
  }
  return copy;
}
