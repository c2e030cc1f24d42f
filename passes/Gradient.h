//===- Gradient.h - Reverse-mode differentiation of a function --*- C++ -*-===//
//
// The core of moa-generate-gradients and moa-generate-train-step: replays a
// function's body and emits, after it, the adjoint of every op in reverse
// order. The rule of each op is its GradientOpInterface (moa ops in
// dialect/Gradients.cpp, upstream ops in GradientModels.cpp);
// moa.mixture_attention must be decomposed first (its primitives carry the
// rules).
//
//===----------------------------------------------------------------------===//

#ifndef MOA_PASSES_GRADIENT_H
#define MOA_PASSES_GRADIENT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::moa {

struct Gradient {
  /// The function's results, as computed by the replayed body.
  SmallVector<Value> results;
  /// d(sum_i <seed_i, result_i>) / d(argument) for every float tensor
  /// argument (zeros if nothing flows to it); null for other arguments.
  SmallVector<Value> argumentGradients;
};

/// Emits at `b`'s insertion point the body of `source` (a single block
/// ending in func.return) applied to `arguments`, then its gradient with
/// respect to the arguments for the result adjoints `seeds` (one per result;
/// a null seed means nothing flows back from that result). Fails, with a
/// diagnostic at the op, if an op on the path has no gradient rule.
FailureOr<Gradient> emitGradient(OpBuilder &b, func::FuncOp source,
                                 ValueRange arguments, ArrayRef<Value> seeds);

/// A copy of `func` in which every moa.mixture_attention is decomposed into
/// moa primitives, ready for emitGradient, in mixed precision if
/// `lowPrecision` is set (castToMixedPrecision). The caller erases it.
FailureOr<func::FuncOp> decomposedCopy(func::FuncOp func,
                                       FloatType lowPrecision = {});

/// The value of a pass's mixed-precision option: none (a null type) or
/// bf16; anything else is reported at `anchor`.
FailureOr<FloatType> parseMixedPrecision(Operation *anchor, StringRef option);

/// Rewrites `func`'s body so that its GEMM-like ops (row projections other
/// than the router's, moa.grouped_matmul, moa.multi_query_attention) read
/// and write `low` values and every other op stays in f32
/// (MixedPrecision.cpp).
LogicalResult castToMixedPrecision(func::FuncOp func, FloatType low);

} // namespace mlir::moa

#endif // MOA_PASSES_GRADIENT_H
