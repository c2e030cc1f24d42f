//===- Gradients.cpp - Reverse-mode rules of the moa ops ------------------===//
//
// GradientOpInterface for moa's forward ops: each rule creates the op's
// backward op from the forward operands and the result adjoints. No
// gradient flows through integer operands (top-k indices, the dispatch
// permutation, token ids); backward ops recompute what they need (router
// softmax, attention scores) from the forward values.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"

using namespace mlir;
using namespace mlir::moa;

/// adjoints[operand] = value, for an operand of `op`.
static void setAdjoint(Operation *op, MutableArrayRef<Value> adjoints,
                       OpOperand &operand, Value value) {
  assert(operand.getOwner() == op && "an operand of another op");
  (void)op;
  adjoints[operand.getOperandNumber()] = value;
}

LogicalResult MixtureAttentionOp::emitAdjoints(OpBuilder &, ArrayRef<Value>,
                                               MutableArrayRef<Value>) {
  return emitError(
      "moa-generate-gradients: decompose moa.mixture_attention first");
}

LogicalResult RouteOp::emitAdjoints(OpBuilder &b,
                                    ArrayRef<Value> resultAdjoints,
                                    MutableArrayRef<Value> operandAdjoints) {
  Value dGates = resultAdjoints[1];
  setAdjoint(*this, operandAdjoints, getLogitsMutable(),
             RouteGradOp::create(b, getLoc(), getLogits(), getIndices(), dGates,
                                 getGatingAttr(), getRenormalizeAttr()));
  return success();
}

LogicalResult
GroupedMatmulOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                              MutableArrayRef<Value> operandAdjoints) {
  SmallVector<Type> gatesGrad;
  if (getGates())
    gatesGrad.push_back(getGates().getType());
  auto grad = GroupedMatmulGradOp::create(
      b, getLoc(), getInput().getType(), getWeight().getType(), gatesGrad,
      getInput(), getWeight(), getPermutation(), getOffsets(),
      resultAdjoints[0], getGates());
  setAdjoint(*this, operandAdjoints, getInputMutable(), grad.getInputGrad());
  setAdjoint(*this, operandAdjoints, getWeightMutable(), grad.getWeightGrad());
  if (getGates())
    setAdjoint(*this, operandAdjoints, getGatesMutable()[0],
               grad.getGatesGrad()[0]);
  return success();
}

LogicalResult
MultiQueryAttentionOp::emitAdjoints(OpBuilder &b,
                                    ArrayRef<Value> resultAdjoints,
                                    MutableArrayRef<Value> operandAdjoints) {
  auto grad = MultiQueryAttentionGradOp::create(
      b, getLoc(), getQuery(), getKey(), getValue(), getResult(),
      resultAdjoints[0], getKeyPaddingMask(), getLse(), getCausalAttr(),
      getScaleAttr());
  setAdjoint(*this, operandAdjoints, getQueryMutable(), grad.getQueryGrad());
  setAdjoint(*this, operandAdjoints, getKeyMutable(), grad.getKeyGrad());
  setAdjoint(*this, operandAdjoints, getValueMutable(), grad.getValueGrad());
  return success();
}

LogicalResult
LoadBalancingLossOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                                  MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getLogitsMutable(),
             LoadBalancingLossGradOp::create(
                 b, getLoc(), getLogits(), getIndices(), resultAdjoints[0],
                 getQueryPaddingMask(), getStatistics()));
  return success();
}

LogicalResult
ImportanceCVLossOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                                 MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getGatesMutable(),
             ImportanceCVLossGradOp::create(b, getLoc(), getGates(),
                                            getIndices(), resultAdjoints[0],
                                            getNumExpertsAttr()));
  return success();
}

LogicalResult
MutualInformationLossOp::emitAdjoints(OpBuilder &b,
                                      ArrayRef<Value> resultAdjoints,
                                      MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getLogitsMutable(),
             MutualInformationLossGradOp::create(b, getLoc(), getLogits(),
                                                 resultAdjoints[0],
                                                 getQueryPaddingMask()));
  return success();
}

LogicalResult
RouterZLossOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                            MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getLogitsMutable(),
             RouterZLossGradOp::create(b, getLoc(), getLogits(),
                                       resultAdjoints[0],
                                       getQueryPaddingMask()));
  return success();
}

LogicalResult
LayerNormOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                          MutableArrayRef<Value> operandAdjoints) {
  auto grad = LayerNormGradOp::create(b, getLoc(), getInput(), getGamma(),
                                      resultAdjoints[0], getEpsilonAttr());
  setAdjoint(*this, operandAdjoints, getInputMutable(), grad.getInputGrad());
  setAdjoint(*this, operandAdjoints, getGammaMutable(), grad.getGammaGrad());
  setAdjoint(*this, operandAdjoints, getBetaMutable(), grad.getBetaGrad());
  return success();
}

LogicalResult
EmbeddingOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                          MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getTableMutable(),
             EmbeddingGradOp::create(b, getLoc(), getIndices(), getTable(),
                                     resultAdjoints[0]));
  return success();
}

LogicalResult
CrossEntropyOp::emitAdjoints(OpBuilder &b, ArrayRef<Value> resultAdjoints,
                             MutableArrayRef<Value> operandAdjoints) {
  setAdjoint(*this, operandAdjoints, getLogitsMutable(),
             CrossEntropyGradOp::create(b, getLoc(), getLogits(), getTargets(),
                                        resultAdjoints[0]));
  return success();
}
