//===- Cost.h - Cost model types shared by ops and moa-cost -----*- C++ -*-===//

#ifndef MOA_DIALECT_COST_H
#define MOA_DIALECT_COST_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include <limits>
#include <optional>

namespace mlir::moa {

/// `macsPerUnit` multiply-accumulates for each of `units` units ("query
/// token", "key token", "query-key pair", ...). `units` is empty when it
/// depends on a dynamic dimension; `macsPerUnit` is ShapedType::kDynamic when
/// a dynamic feature size (d, E, h) makes it unknown.
struct CostTerm {
  llvm::StringRef unit;
  int64_t macsPerUnit = 0;
  std::optional<int64_t> units;
};

struct OpCost {
  llvm::SmallVector<CostTerm> terms;
  /// Operands that are learned parameters (counted once per function).
  llvm::SmallVector<Value> weights;

  /// Sum of all terms, or nullopt if any term has a dynamic unit count.
  std::optional<int64_t> totalMacs() const;
};

/// Counts (MACs, parameters) stop at this value instead of overflowing;
/// reports print it as such, never as a wrapped-around number.
constexpr int64_t kSaturatedCount = std::numeric_limits<int64_t>::max();
/// a + b and a * b of non-negative counts, saturating at kSaturatedCount.
int64_t saturatingAdd(int64_t a, int64_t b);
int64_t saturatingMul(int64_t a, int64_t b);

/// Number of elements of a shaped value, or nullopt if a dimension is dynamic.
std::optional<int64_t> staticNumElements(Value value);

/// Product of `sizes`, or nullopt if one of them is ShapedType::kDynamic.
std::optional<int64_t> staticProduct(llvm::ArrayRef<int64_t> sizes);

} // namespace mlir::moa

#endif // MOA_DIALECT_COST_H
