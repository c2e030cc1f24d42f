//===- ShapeChecks.cpp - Named-dimension shape verification ---------------===//

#include "dialect/ShapeChecks.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::moa;

void ShapeBinder::set(StringRef name, int64_t size) { sizes[name] = size; }

int64_t ShapeBinder::get(StringRef name) const {
  auto it = sizes.find(name);
  return it == sizes.end() ? ShapedType::kDynamic : it->second;
}

std::string ShapeBinder::describe(ArrayRef<StringRef> dims) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(dims, os);
  os << "] = [";
  llvm::interleaveComma(dims, os, [&](StringRef name) {
    int64_t size = get(name);
    if (ShapedType::isDynamic(size))
      os << "?";
    else
      os << size;
  });
  os << "]";
  return text;
}

LogicalResult ShapeBinder::bind(StringRef what, Type type,
                                ArrayRef<StringRef> dims) {
  // Tensors and (bufferized) memrefs alike.
  auto tensor = dyn_cast<ShapedType>(type);
  if (!tensor || !tensor.hasRank() ||
      tensor.getRank() != static_cast<int64_t>(dims.size()))
    return op->emitOpError()
           << "'" << what << "' must have rank " << dims.size() << " (shape "
           << describe(dims) << ") but has type " << type;
  // Check all dimensions before binding any, so the message shows the shape
  // as it was expected before this operand.
  for (auto [name, size] : llvm::zip(dims, tensor.getShape())) {
    int64_t expected = get(name);
    if (!ShapedType::isDynamic(size) && !ShapedType::isDynamic(expected) &&
        size != expected)
      return op->emitOpError() << "'" << what << "' must have shape "
                               << describe(dims) << " but has type " << type;
  }
  for (auto [name, size] : llvm::zip(dims, tensor.getShape()))
    if (!ShapedType::isDynamic(size))
      set(name, size);
  return success();
}

LogicalResult ShapeBinder::checkElementType(StringRef what, Type type,
                                            Type expected, StringRef reason) {
  Type actual = cast<ShapedType>(type).getElementType();
  if (actual == expected)
    return success();
  return op->emitOpError() << "'" << what << "' must have element type "
                           << expected << " (" << reason << ") but has type "
                           << type;
}

LogicalResult ShapeBinder::checkTopK(int64_t k, StringRef expertsName) {
  int64_t experts = get(expertsName);
  if (k < 1 || (!ShapedType::isDynamic(experts) && k > experts))
    return op->emitOpError()
           << "k = " << k << " must be in [1, " << expertsName << "] with "
           << expertsName << " = "
           << (ShapedType::isDynamic(experts) ? std::string("?")
                                              : std::to_string(experts));
  return success();
}

LogicalResult ShapeBinder::checkPositive(ArrayRef<StringRef> names) {
  for (StringRef name : names)
    if (get(name) == 0)
      return op->emitOpError()
             << "size " << name << " = 0: it must be at least 1";
  return success();
}

LogicalResult mlir::moa::inBufferForm(ValueRange operands,
                                      SmallVectorImpl<Type> &inferred) {
  if (llvm::any_of(operands,
                   [](Value v) { return isa<MemRefType>(v.getType()); }))
    for (Type &type : inferred)
      if (auto tensor = dyn_cast<RankedTensorType>(type))
        type = MemRefType::get(tensor.getShape(), tensor.getElementType());
  return success();
}

int64_t mlir::moa::dimOrDynamic(Type type, unsigned dim) {
  auto tensor = dyn_cast<ShapedType>(type);
  if (!tensor || !tensor.hasRank() || dim >= tensor.getRank())
    return ShapedType::kDynamic;
  return tensor.getDimSize(dim);
}

int64_t mlir::moa::mulDims(int64_t a, int64_t b) {
  int64_t product;
  // An overflowing product cannot be a valid size: treat it as unknown.
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) ||
      llvm::MulOverflow(a, b, product))
    return ShapedType::kDynamic;
  return product;
}

LogicalResult mlir::moa::verifyImportanceCV(Operation *op, Type gates,
                                            Type indices, int64_t numExperts) {
  ShapeBinder shapes(op);
  shapes.set("E", numExperts);
  if (failed(shapes.bind("gates", gates, {"B", "T", "k"})) ||
      failed(shapes.bind("indices", indices, {"B", "T", "k"})))
    return failure();
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

LogicalResult mlir::moa::verifyRouterLogits(Operation *op, Type logits,
                                            Value mask) {
  ShapeBinder shapes(op);
  if (failed(shapes.bind("logits", logits, {"B", "T", "E"})))
    return failure();
  return mask ? shapes.bind("query_padding_mask", mask.getType(), {"B", "T"})
              : success();
}

LogicalResult mlir::moa::verifyLoadBalancing(Operation *op, Type logits,
                                             Type indices, Value mask,
                                             Value statistics) {
  ShapeBinder shapes(op);
  shapes.set("2", 2);
  if (failed(shapes.bind("logits", logits, {"B", "T", "E"})) ||
      failed(shapes.bind("indices", indices, {"B", "T", "k"})) ||
      (mask &&
       failed(shapes.bind("query_padding_mask", mask.getType(), {"B", "T"}))) ||
      (statistics &&
       failed(shapes.bind("statistics", statistics.getType(), {"2", "E"}))))
    return failure();
  int64_t k = shapes.get("k");
  return ShapedType::isDynamic(k) ? success() : shapes.checkTopK(k);
}

LogicalResult mlir::moa::verifyAttentionOperands(Operation *op, Type query,
                                                 Type key, Type value,
                                                 Value keyPaddingMask,
                                                 std::optional<APFloat> scale) {
  ShapeBinder shapes(op);
  if (failed(shapes.bind("query", query, {"B", "T", "k", "h"})) ||
      failed(shapes.bind("key", key, {"B", "S", "h"})) ||
      failed(shapes.bind("value", value, {"B", "S", "h"})))
    return failure();
  if (keyPaddingMask &&
      failed(shapes.bind("key_padding_mask", keyPaddingMask.getType(),
                         {"B", "S"})))
    return failure();
  if (failed(shapes.checkPositive({"h"})))
    return failure();
  Type elementType = cast<ShapedType>(query).getElementType();
  StringRef sameAsQuery = "the element type of 'query'";
  if (failed(shapes.checkElementType("key", key, elementType, sameAsQuery)) ||
      failed(shapes.checkElementType("value", value, elementType, sameAsQuery)))
    return failure();
  return checkScale(op, scale);
}

LogicalResult mlir::moa::checkScale(Operation *op,
                                    std::optional<APFloat> scale) {
  if (scale && !(scale->isFiniteNonZero() && !scale->isNegative()))
    return op->emitOpError("'scale' must be a positive finite number");
  return success();
}
