//===- Tensor.h - Host tensors of the runtime -------------------*- C++ -*-===//

#ifndef MOA_RUNTIME_TENSOR_H
#define MOA_RUNTIME_TENSOR_H

#include "runtime/Manifest.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moa::runtime {

/// The number of elements of `shape`, or nullopt if a size is negative or
/// the count is absurdly large (it would overflow).
std::optional<int64_t> checkedNumElements(const std::vector<int64_t> &shape);

/// A dense, row-major tensor, in host memory unless onDevice(). It usually
/// owns its bytes; borrow() makes one over memory the caller keeps alive
/// (NumPy arrays, torch tensors), adopt() one that takes a malloc'd buffer
/// (a compiled entry's result), and onDevice() one in a GPU's memory
/// (runtime/Device.h; its data() is a device address, which only the
/// module's code and the device's copies may read). Constructing one of a
/// shape checkedNumElements rejects throws std::bad_alloc.
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

  /// A tensor at `data` in device memory that owns `allocation` (holding
  /// `data`) and gives it to `release`.
  static Tensor onDevice(DType dtype, std::vector<int64_t> shape, void *data,
                         void *allocation, std::function<void(void *)> release);

  bool isOnDevice() const { return onDevice_; }
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

  /// Elements converted to/from double (f16 and bf16 included); host
  /// tensors only.
  double at(int64_t i) const;
  void set(int64_t i, double value);

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  /// Frees the bytes (delete[], free or the device's); null when they are
  /// borrowed.
  std::unique_ptr<void, std::function<void(void *)>> storage_{nullptr,
                                                              [](void *) {}};
  void *data_ = nullptr;
  bool onDevice_ = false;
};

/// "[4, ?, 256]" for a manifest shape (-1 is dynamic), "[4, 3, 256]" for a
/// tensor.
std::string formatShape(const std::vector<int64_t> &shape);

/// IEEE half and bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
uint16_t floatToBf16(float value);
/// Exact; inline, since the bf16 GEMMs' packing widens with it per element.
inline float bf16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

} // namespace moa::runtime

#endif // MOA_RUNTIME_TENSOR_H
