//===- Gradient.cpp - Reverse-mode rules per op ---------------------------===//
//
// Each rule reads the adjoint of an op's results and adds the adjoints of
// its operands. No gradient flows through integer values (top-k indices,
// the dispatch permutation, token ids) nor through constants and fills.
// The moa backward ops recompute what they need (router softmax, attention
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
#include "llvm/ADT/TypeSwitch.h"

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
  /// adjoint(v) -= g.
  void subtract(Value v, Value g) {
    if (!isFloatTensor(v))
      return;
    Location loc = v.getLoc();
    Value current = lookup(v);
    adjoints[v] =
        subTensors(b, loc, current ? current : zerosLike(b, loc, v), g);
  }
  Value lookup(Value v) const { return adjoints.lookup(v); }
  /// The adjoint of `v`, zeros if nothing flowed to it.
  Value orZeros(Value v) {
    Value g = lookup(v);
    return g ? g : zerosLike(b, v.getLoc(), v);
  }

  LogicalResult differentiate(Operation *op);
  bool hasFailed() const { return failed_; }

private:
  LogicalResult contract(linalg::ContractOp op, Value g);

  OpBuilder &b;
  DenseMap<Value, Value> adjoints;
  bool failed_ = false;
};

LogicalResult AdjointBuilder::contract(linalg::ContractOp op, Value g) {
  if (op.getIndexingMapsArray() !=
      ArrayRef<AffineMap>(rowProjectionMaps(op.getContext())))
    return op.emitError("moa-generate-gradients: only row projections "
                        "(x[b, t, c] w[c, n]) are differentiated among "
                        "linalg.contract ops");
  Location loc = op.getLoc();
  Value x = op.getInputs()[0], w = op.getInputs()[1];
  if (g.getType() != RankedTensorType::get(
                         cast<RankedTensorType>(g.getType()).getShape(),
                         cast<RankedTensorType>(x.getType()).getElementType()))
    return op.emitError("moa-generate-gradients: a projection whose result "
                        "type differs from its input's is not differentiated");
  add(x, projectRows(b, loc, g, transpose2D(b, loc, w),
                     cast<RankedTensorType>(x.getType()).getElementType()));
  add(w, weightGradient(b, loc, x, g));
  add(op.getOutputs()[0], g);
  return success();
}

LogicalResult AdjointBuilder::differentiate(Operation *op) {
  // Nothing to do unless a float result has an adjoint.
  bool needed = llvm::any_of(
      op->getResults(), [&](Value r) { return isFloatTensor(r) && lookup(r); });
  if (!needed)
    return success();
  Location loc = op->getLoc();
  Value g = lookup(op->getNumResults() ? op->getResult(0) : Value());

  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case<linalg::FillOp, tensor::EmptyOp, arith::ConstantOp>(
          [](Operation *) { return success(); })
      .Case([&](linalg::ContractOp c) { return contract(c, g); })
      .Case([&](linalg::AddOp add_) {
        add(add_.getInputs()[0], g);
        add(add_.getInputs()[1], g);
        return success();
      })
      .Case([&](linalg::SubOp sub) {
        add(sub.getInputs()[0], g);
        subtract(sub.getInputs()[1], g);
        return success();
      })
      .Case([&](linalg::MulOp mul) {
        Value x = mul.getInputs()[0], y = mul.getInputs()[1];
        add(x, mulTensors(b, loc, g, y));
        add(y, mulTensors(b, loc, g, x));
        return success();
      })
      .Case([&](linalg::MaxOp max) {
        Value x = max.getInputs()[0], y = max.getInputs()[1];
        add(x, maxGradient(b, loc, x, y, g, /*larger=*/true));
        add(y, maxGradient(b, loc, x, y, g, /*larger=*/false));
        return success();
      })
      // Scalar arithmetic on tensors (a loss = ce + 0.01 * aux, ...).
      .Case([&](arith::AddFOp a) {
        add(a.getLhs(), g);
        add(a.getRhs(), g);
        return success();
      })
      .Case([&](arith::SubFOp s) {
        add(s.getLhs(), g);
        add(s.getRhs(), arith::NegFOp::create(b, loc, g));
        return success();
      })
      .Case([&](arith::MulFOp m) {
        add(m.getLhs(), arith::MulFOp::create(b, loc, g, m.getRhs()));
        add(m.getRhs(), arith::MulFOp::create(b, loc, g, m.getLhs()));
        return success();
      })
      .Case([&](RouteOp route) {
        Value dGates = lookup(route.getGates());
        add(route.getLogits(),
            RouteGradOp::create(b, loc, route.getLogits(), route.getIndices(),
                                dGates, route.getGatingAttr(),
                                route.getRenormalizeAttr()));
        return success();
      })
      .Case([&](GroupedMatmulOp mm) {
        SmallVector<Type> gatesGrad;
        if (mm.getGates())
          gatesGrad.push_back(mm.getGates().getType());
        auto grad = GroupedMatmulGradOp::create(
            b, loc, mm.getInput().getType(), mm.getWeight().getType(),
            gatesGrad, mm.getInput(), mm.getWeight(), mm.getPermutation(),
            mm.getOffsets(), g, mm.getGates());
        add(mm.getInput(), grad.getInputGrad());
        add(mm.getWeight(), grad.getWeightGrad());
        if (mm.getGates())
          add(mm.getGates(), grad.getGatesGrad()[0]);
        return success();
      })
      .Case([&](MultiQueryAttentionOp mqa) {
        auto grad = MultiQueryAttentionGradOp::create(
            b, loc, mqa.getQuery(), mqa.getKey(), mqa.getValue(),
            mqa.getResult(), g, mqa.getKeyPaddingMask(), mqa.getCausalAttr(),
            mqa.getScaleAttr());
        add(mqa.getQuery(), grad.getQueryGrad());
        add(mqa.getKey(), grad.getKeyGrad());
        add(mqa.getValue(), grad.getValueGrad());
        return success();
      })
      .Case([&](LoadBalancingLossOp loss) {
        add(loss.getLogits(), LoadBalancingLossGradOp::create(
                                  b, loc, loss.getLogits(), loss.getIndices(),
                                  g, loss.getQueryPaddingMask()));
        return success();
      })
      .Case([&](ImportanceCVLossOp loss) {
        add(loss.getGates(), ImportanceCVLossGradOp::create(
                                 b, loc, loss.getGates(), loss.getIndices(), g,
                                 loss.getNumExpertsAttr()));
        return success();
      })
      .Case([&](MutualInformationLossOp loss) {
        add(loss.getLogits(),
            MutualInformationLossGradOp::create(b, loc, loss.getLogits(), g,
                                                loss.getQueryPaddingMask()));
        return success();
      })
      .Case([&](RouterZLossOp loss) {
        add(loss.getLogits(),
            RouterZLossGradOp::create(b, loc, loss.getLogits(), g,
                                      loss.getQueryPaddingMask()));
        return success();
      })
      .Case([&](LayerNormOp norm) {
        auto grad = LayerNormGradOp::create(
            b, loc, norm.getInput(), norm.getGamma(), g, norm.getEpsilonAttr());
        add(norm.getInput(), grad.getInputGrad());
        add(norm.getGamma(), grad.getGammaGrad());
        add(norm.getBeta(), grad.getBetaGrad());
        return success();
      })
      .Case([&](EmbeddingOp embedding) {
        add(embedding.getTable(),
            EmbeddingGradOp::create(b, loc, embedding.getIndices(),
                                    embedding.getTable(), g));
        return success();
      })
      .Case([&](CrossEntropyOp loss) {
        add(loss.getLogits(),
            CrossEntropyGradOp::create(b, loc, loss.getLogits(),
                                       loss.getTargets(), g));
        return success();
      })
      .Case([&](MixtureAttentionOp layer) {
        return layer.emitError("moa-generate-gradients: decompose "
                               "moa.mixture_attention first");
      })
      .Default([&](Operation *other) {
        return other->emitError()
               << "moa-generate-gradients: no gradient rule for '"
               << other->getName() << "'";
      });
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
    replayed.push_back(b.clone(op, mapping));

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
  if (failed(decomposeMixtureAttention(copy))) {
    copy.erase();
    return failure();
  }
  return copy;
}
