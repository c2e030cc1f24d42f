//===- Tensor.h - Host tensors of the runtime -------------------*- C++ -*-===//

#ifndef MOA_RUNTIME_TENSOR_H
#define MOA_RUNTIME_TENSOR_H

#include "runtime/Manifest.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moa::runtime {

/// The number of elements of `shape`, or nullopt if a size is negative or
/// the count is absurdly large (it would overflow).
std::optional<int64_t> checkedNumElements(const std::vector<int64_t> &shape);

/// A dense, row-major host tensor. It usually owns its bytes; borrow() makes
/// one over memory the caller keeps alive (NumPy arrays, torch tensors), and
/// adopt() one that takes a malloc'd buffer (a compiled entry's result).
/// Constructing one of a shape checkedNumElements rejects throws
/// std::bad_alloc.
class Tensor {
public:
  Tensor() = default;
  Tensor(DType dtype, std::vector<int64_t> shape);
  /// A moved-from tensor is empty (no shape, no data).
  Tensor(Tensor &&other) noexcept { *this = std::move(other); }
  Tensor &operator=(Tensor &&other) noexcept;

  /// A tensor over `data`, which must outlive it and hold the shape's bytes.
  static Tensor borrow(DType dtype, std::vector<int64_t> shape, void *data);
  /// A tensor over `data` that owns `allocation` (from malloc, holding
  /// `data`) and frees it.
  static Tensor adopt(DType dtype, std::vector<int64_t> shape, void *data,
                      void *allocation);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numElements() const;
  int64_t byteSize() const { return numElements() * dtypeSize(dtype_); }

  void *data() { return data_; }
  const void *data() const { return data_; }
  /// False for a borrowed tensor.
  bool ownsData() const { return storage_ != nullptr; }
  template <typename T> T *as() { return static_cast<T *>(data()); }
  template <typename T> const T *as() const {
    return static_cast<const T *>(data());
  }

  /// Elements converted to/from double (f16 and bf16 included).
  double at(int64_t i) const;
  void set(int64_t i, double value);

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  /// Frees the bytes (delete[] or free); null when they are borrowed.
  std::unique_ptr<void, void (*)(void *)> storage_{nullptr, [](void *) {}};
  void *data_ = nullptr;
};

/// "[4, ?, 256]" for a manifest shape (-1 is dynamic), "[4, 3, 256]" for a
/// tensor.
std::string formatShape(const std::vector<int64_t> &shape);

/// IEEE half and bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
float bf16ToFloat(uint16_t bits);
uint16_t floatToBf16(float value);

} // namespace moa::runtime

#endif // MOA_RUNTIME_TENSOR_H
