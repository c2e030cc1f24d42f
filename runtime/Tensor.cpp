//===- Tensor.cpp - Host tensors of the runtime ---------------------------===//

#include "runtime/Tensor.h"

#include <cmath>
#include <cstdlib>
#include <new>
#include <utility>

namespace moa::runtime {

std::optional<int64_t> checkedNumElements(const std::vector<int64_t> &shape) {
  // 2^50 bytes is far beyond any machine; the cap keeps products exact.
  constexpr int64_t kLimit = int64_t(1) << 50;
  int64_t n = 1;
  for (int64_t size : shape) {
    if (size < 0 || (size > 0 && n > kLimit / size))
      return std::nullopt;
    n *= size;
  }
  return n;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  if (!checkedNumElements(shape_))
    throw std::bad_alloc();
  // Zero-initialised; at least one byte so data() is never null.
  data_ = new uint8_t[std::max<int64_t>(byteSize(), 1)]();
  storage_ = {data_, [](void *p) { delete[] static_cast<uint8_t *>(p); }};
}

Tensor &Tensor::operator=(Tensor &&other) noexcept {
  dtype_ = other.dtype_;
  shape_ = std::exchange(other.shape_, {});
  storage_ = std::move(other.storage_);
  data_ = std::exchange(other.data_, nullptr);
  onDevice_ = std::exchange(other.onDevice_, false);
  return *this;
}

Tensor Tensor::borrow(DType dtype, std::vector<int64_t> shape, void *data) {
  Tensor tensor;
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.data_ = data;
  return tensor;
}

Tensor Tensor::adopt(DType dtype, std::vector<int64_t> shape, void *data,
                     void *allocation) {
  Tensor tensor = borrow(dtype, std::move(shape), data);
  tensor.storage_ = {allocation, std::free};
  return tensor;
}

Tensor Tensor::onDevice(DType dtype, std::vector<int64_t> shape, void *data,
                        void *allocation, std::function<void(void *)> release) {
  Tensor tensor = borrow(dtype, std::move(shape), data);
  tensor.storage_ = {allocation, std::move(release)};
  tensor.onDevice_ = true;
  return tensor;
}

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t size : shape_)
    n *= size;
  return n;
}

double Tensor::at(int64_t i) const {
  switch (dtype_) {
  case DType::F32:
    return as<float>()[i];
  case DType::F16:
    return halfToFloat(as<uint16_t>()[i]);
  case DType::BF16:
    return bf16ToFloat(as<uint16_t>()[i]);
  case DType::I32:
    return as<int32_t>()[i];
  case DType::I1:
    return as<uint8_t>()[i] ? 1.0 : 0.0;
  }
  return 0.0;
}

void Tensor::set(int64_t i, double value) {
  switch (dtype_) {
  case DType::F32:
    as<float>()[i] = static_cast<float>(value);
    return;
  case DType::F16:
    as<uint16_t>()[i] = floatToHalf(static_cast<float>(value));
    return;
  case DType::BF16:
    as<uint16_t>()[i] = floatToBf16(static_cast<float>(value));
    return;
  case DType::I32:
    as<int32_t>()[i] = static_cast<int32_t>(value);
    return;
  case DType::I1:
    as<uint8_t>()[i] = value != 0.0;
    return;
  }
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      text += ", ";
    text += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return text + "]";
}

float halfToFloat(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1, exponent = (bits >> 10) & 0x1f,
                 mantissa = bits & 0x3ff;
  float value;
  if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? NAN : INFINITY;
  else
    value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return sign ? -value : value;
}

uint16_t floatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint16_t sign = (x >> 16) & 0x8000;
  const float magnitude = std::fabs(value);
  if (std::isnan(value))
    return sign | 0x7e00;
  if (magnitude >= 65520.0f)
    return sign | 0x7c00;
  if (magnitude < 6.103515625e-05f) {
    // Subnormal: multiples of 2^-24, rounded to nearest even.
    return sign |
           static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  int exponent;
  float fraction = std::frexp(magnitude, &exponent); // [0.5, 1)
  uint32_t mantissa =
      static_cast<uint32_t>(std::nearbyint((fraction * 2.0f - 1.0f) * 1024.0f));
  int biased = exponent - 1 + 15;
  if (mantissa == 1024) {
    mantissa = 0;
    ++biased;
  }
  if (biased >= 31)
    return sign | 0x7c00;
  return sign | static_cast<uint16_t>(biased << 10) |
         static_cast<uint16_t>(mantissa);
}

uint16_t floatToBf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if (std::isnan(value))
    return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

} // namespace moa::runtime
