//===- ShapeChecks.h - Named-dimension shape verification -------*- C++ -*-===//
//
// The verifiers of all moa ops describe operand shapes with named dimensions
// ([B, T, d], [E, d, h], ...). ShapeBinder binds each name to the first static
// size it sees and reports the first operand that disagrees, naming the
// operand and the expected shape, so every op's verify() stays a list of
// declarations.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_DIALECT_SHAPECHECKS_H
#define MOA_DIALECT_SHAPECHECKS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::moa {

class ShapeBinder {
public:
  explicit ShapeBinder(Operation *op) : op(op) {}

  /// Fixes `name` to `size` (ShapedType::kDynamic leaves it open).
  void set(StringRef name, int64_t size);
  /// The size bound to `name`, or ShapedType::kDynamic.
  int64_t get(StringRef name) const;

  /// Checks that `type` (the type of operand or result `what`) is a ranked
  /// tensor of rank dims.size() whose sizes agree with the named dimensions,
  /// binding names on first sight.
  LogicalResult bind(StringRef what, Type type, ArrayRef<StringRef> dims);

  /// Checks that `type` has element type `expected`; `reason` says why.
  LogicalResult checkElementType(StringRef what, Type type, Type expected,
                                 StringRef reason);

  /// Checks 1 <= k <= E when E is known.
  LogicalResult checkTopK(int64_t k, StringRef expertsName = "E");

  /// Checks that each named dimension, where known, is at least 1 (a model
  /// or head size of 0 computes nothing and divides by zero).
  LogicalResult checkPositive(ArrayRef<StringRef> names);

private:
  std::string describe(ArrayRef<StringRef> dims) const;

  Operation *op;
  llvm::StringMap<int64_t> sizes;
};

/// An attention scale, if given, must be positive and finite.
LogicalResult checkScale(Operation *op, std::optional<APFloat> scale);

/// query [B, T, k, h], key and value [B, S, h] of the query's element type,
/// an optional [B, S] key padding mask and a positive finite scale (the
/// attention and its gradient).
LogicalResult verifyAttentionOperands(Operation *op, Type query, Type key,
                                      Type value, Value keyPaddingMask,
                                      std::optional<APFloat> scale);

/// Router logits [B, T, E] with an optional [B, T] query padding mask (the
/// z-loss, the MI loss and their gradients).
LogicalResult verifyRouterLogits(Operation *op, Type logits, Value mask);

/// Router logits [B, T, E], indices [B, T, k] with 1 <= k <= E, an optional
/// [B, T] query padding mask and optional [2, E] routing statistics (the
/// load-balancing loss, its gradient and moa.routing_statistics).
LogicalResult verifyLoadBalancing(Operation *op, Type logits, Type indices,
                                  Value mask, Value statistics);

/// gates and indices [B, T, k] with 1 <= k <= num_experts (the importance
/// CV^2 loss and its gradient).
LogicalResult verifyImportanceCV(Operation *op, Type gates, Type indices,
                                 int64_t numExperts);

/// The form of an op with a buffer form: on memref operands (the op
/// bufferized) the `inferred` result tensor types become memrefs of the same
/// shapes.
LogicalResult inBufferForm(ValueRange operands,
                           SmallVectorImpl<Type> &inferred);

/// Size of dimension `dim` of a ranked tensor type, or kDynamic if the type is
/// unranked or too small (inference must not fail before the verifier runs).
int64_t dimOrDynamic(Type type, unsigned dim);

/// a * b, propagating kDynamic.
int64_t mulDims(int64_t a, int64_t b);

} // namespace mlir::moa

#endif // MOA_DIALECT_SHAPECHECKS_H
