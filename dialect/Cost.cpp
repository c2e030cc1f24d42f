//===- Cost.cpp - Cost model helpers --------------------------------------===//

#include "dialect/Cost.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::moa;

std::optional<int64_t> OpCost::totalMacs() const {
  int64_t total = 0;
  for (const CostTerm &term : terms) {
    if (!term.units || ShapedType::isDynamic(term.macsPerUnit))
      return std::nullopt;
    total += term.macsPerUnit * *term.units;
  }
  return total;
}

std::optional<int64_t> mlir::moa::staticProduct(ArrayRef<int64_t> sizes) {
  int64_t product = 1;
  for (int64_t size : sizes) {
    if (ShapedType::isDynamic(size))
      return std::nullopt;
    product *= size;
  }
  return product;
}

std::optional<int64_t> mlir::moa::staticNumElements(Value value) {
  auto shaped = dyn_cast<ShapedType>(value.getType());
  if (!shaped || !shaped.hasRank())
    return std::nullopt;
  return staticProduct(shaped.getShape());
}
