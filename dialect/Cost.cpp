//===- Cost.cpp - Cost model helpers --------------------------------------===//

#include "dialect/Cost.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::moa;

int64_t mlir::moa::saturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return llvm::AddOverflow(a, b, sum) ? kSaturatedCount : sum;
}

int64_t mlir::moa::saturatingMul(int64_t a, int64_t b) {
  int64_t product;
  return llvm::MulOverflow(a, b, product) ? kSaturatedCount : product;
}

std::optional<int64_t> OpCost::totalMacs() const {
  int64_t total = 0;
  for (const CostTerm &term : terms) {
    if (!term.units || ShapedType::isDynamic(term.macsPerUnit))
      return std::nullopt;
    total = saturatingAdd(total, saturatingMul(term.macsPerUnit, *term.units));
  }
  return total;
}

std::optional<int64_t> mlir::moa::staticProduct(ArrayRef<int64_t> sizes) {
  int64_t product = 1;
  for (int64_t size : sizes) {
    if (ShapedType::isDynamic(size))
      return std::nullopt;
    product = saturatingMul(product, size);
  }
  return product;
}

std::optional<int64_t> mlir::moa::staticNumElements(Value value) {
  auto shaped = dyn_cast<ShapedType>(value.getType());
  if (!shaped || !shaped.hasRank())
    return std::nullopt;
  return staticProduct(shaped.getShape());
}
