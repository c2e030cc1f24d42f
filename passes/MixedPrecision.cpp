//===- MixedPrecision.cpp - bf16 GEMMs in a function to differentiate -----===//
//
// The mixed precision of moa-generate-gradients and moa-generate-train-step
// (option mixed-precision=bf16), as users of PyTorch's autocast expect it:
// the GEMM-like ops (row projections, moa.grouped_matmul,
// moa.multi_query_attention) read bf16 operands and write bf16 results,
// accumulating in f32; every other op (layer norm, router, losses,
// elementwise arithmetic, the residual stream) stays in f32. The parameters
// stay f32 (master weights, rounded to bf16 where a GEMM reads them) and so
// does the optimizer state. A row projection whose result feeds moa.route is
// the router and stays f32 (moa-spec.md: the router is computed in f32).
//
// The casts are arith.truncf / arith.extf on tensors. Gradient.cpp passes
// adjoints straight through them and accumulates every adjoint in f32, so the
// backward rounds to bf16 only where a bf16 backward op reads a gradient and
// where it writes one.
//
//===----------------------------------------------------------------------===//

#include "dialect/MoAOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Verifier.h"
#include "passes/Gradient.h"
#include "passes/LinalgBuilders.h"

using namespace mlir;
using namespace mlir::moa;

namespace {

bool isF32Tensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getElementType().isF32();
}

/// A row projection that computes router logits (its result feeds
/// moa.route) stays in f32.
bool isRouterProjection(linalg::ContractOp contract) {
  return llvm::any_of(contract->getUsers(),
                      [](Operation *user) { return isa<RouteOp>(user); });
}

/// The operands and results an op reads and writes in the low precision;
/// none for ops that stay in f32 (a row projection's result is rounded
/// after it instead: see rebuild).
struct LowPrecisionSignature {
  SmallVector<OpOperand *> operands;
  SmallVector<OpResult> results;
};

LowPrecisionSignature lowPrecisionSignature(Operation *op) {
  LowPrecisionSignature s;
  if (auto contract = dyn_cast<linalg::ContractOp>(op)) {
    if (!isRowProjection(contract) || isRouterProjection(contract))
      return s;
    // The rows and the weight; the accumulator (a zero fill, or what is
    // added to the product) stays f32.
    for (OpOperand &operand : contract.getInputsMutable())
      s.operands.push_back(&operand);
  } else if (auto matmul = dyn_cast<GroupedMatmulOp>(op)) {
    // The gates are the router's and stay f32.
    s.operands = {&matmul.getInputMutable(), &matmul.getWeightMutable()};
    s.results.push_back(matmul->getResult(0));
  } else if (auto attention = dyn_cast<MultiQueryAttentionOp>(op)) {
    // The row log-sum-exp (with_lse) stays f32.
    s.operands = {&attention.getQueryMutable(), &attention.getKeyMutable(),
                  &attention.getValueMutable()};
    s.results.push_back(attention->getResult(0));
  }
  return s;
}

/// Rewrites a function body in place, op by op in order.
class MixedPrecisionCaster {
public:
  explicit MixedPrecisionCaster(FloatType low) : low(low) {}

  void run(Block &body) {
    for (Operation &op : llvm::make_early_inc_range(body)) {
      LowPrecisionSignature s = lowPrecisionSignature(&op);
      // Operands outside the signature (gates, accumulators) read f32.
      widenOperands(op, s.operands);
      if (s.operands.empty())
        continue;
      OpBuilder b(&op);
      for (OpOperand *operand : s.operands)
        if (isF32Tensor(operand->get()))
          operand->set(narrow(b, operand->get()));
      if (auto contract = dyn_cast<linalg::ContractOp>(op)) {
        rebuild(b, contract);
        continue;
      }
      for (OpResult result : s.results)
        if (isF32Tensor(result)) {
          auto type = cast<RankedTensorType>(result.getType());
          result.setType(type.clone(low));
          narrowed.insert(result);
        }
    }
  }

private:
  /// A linalg op's region is typed by its operands': the contraction of the
  /// narrowed rows and weight is built anew, accumulating into its f32
  /// init, and its result rounded once.
  void rebuild(OpBuilder &b, linalg::ContractOp op) {
    Value sum = linalg::ContractOp::create(b, op.getLoc(), op.getResultTypes(),
                                           op.getInputs(), op.getOutputs(),
                                           op.getIndexingMaps())
                    .getResult(0);
    Value result = convertElements(b, op.getLoc(), sum, low);
    op.getResult(0).replaceAllUsesWith(result);
    op.erase();
    narrowed.insert(result);
  }

  /// An op that stays in f32 reads the narrowed values as f32 again (but
  /// for the operands in `lowPrecision`).
  void widenOperands(Operation &op, ArrayRef<OpOperand *> lowPrecision) {
    for (OpOperand &operand : op.getOpOperands()) {
      if (!narrowed.contains(operand.get()) ||
          llvm::is_contained(lowPrecision, &operand))
        continue;
      Value &wide = widened[operand.get()];
      if (!wide) {
        OpBuilder b(op.getContext());
        b.setInsertionPointAfterValue(operand.get());
        wide = convertElements(b, operand.get().getLoc(), operand.get(),
                               b.getF32Type());
      }
      operand.set(wide);
    }
  }

  /// `v` (f32) rounded to the low precision, once per value (a widened
  /// low-precision value is used as it was).
  Value narrow(OpBuilder &b, Value v) {
    if (auto extend = v.getDefiningOp<arith::ExtFOp>();
        extend && extend.getIn().getType() ==
                      cast<RankedTensorType>(v.getType()).clone(low))
      return extend.getIn();
    Value &result = narrowedCopy[v];
    if (!result) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfterValue(v);
      result = convertElements(b, v.getLoc(), v, low);
    }
    return result;
  }

  FloatType low;
  DenseSet<Value> narrowed;
  DenseMap<Value, Value> widened, narrowedCopy;
};

} // namespace

FailureOr<FloatType> mlir::moa::parseMixedPrecision(Operation *anchor,
                                                    StringRef option) {
  if (option == "none")
    return FloatType();
  if (option == "bf16")
    return FloatType(BFloat16Type::get(anchor->getContext()));
  // At the location only: the note with the whole function says nothing.
  return emitError(anchor->getLoc())
         << "mixed-precision must be 'none' or 'bf16', not '" << option << "'";
}

LogicalResult mlir::moa::castToMixedPrecision(func::FuncOp func,
                                              FloatType low) {
  if (!func.getBody().hasOneBlock())
    return func.emitError(
        "mixed precision: the function must have a single block");
  MixedPrecisionCaster(low).run(func.getBody().front());
  return verify(func);
}
