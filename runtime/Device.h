//===- Device.h - The GPU memory a compiled module runs on ------*- C++ -*-===//
//
// A module compiled with --target=cuda exports, per entry F, the device
// entry F__moa_device (moa-gpu-host-boundary), which takes and returns
// device buffers. Device is the memory those buffers live in, reached
// through the mgpu* functions the module itself links (runtime/cuda: the
// CUDA driver or the recording mock), so a tensor there is in the same
// address space as the module's kernels; a module whose kernels run on the
// CPU emulator (moa-compile --emulate-gpu) has host memory as its device.
// Copies are synchronous: they return once the bytes have arrived. A Device
// holds its own reference to the module's library, so device tensors may
// outlive the Module that made them.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_DEVICE_H
#define MOA_RUNTIME_DEVICE_H

#include <cstdint>
#include <memory>
#include <string>

namespace moa::runtime {

class Device {
public:
  /// The device of the module library `path`, which must be loaded
  /// already; null if it cannot be reached.
  static std::shared_ptr<Device> forModule(const std::string &path);
  ~Device();
  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

  /// "CUDA" or "the CPU emulator".
  const char *describe() const;
  /// `bytes` of device memory; null (with `error`) if there are none.
  void *allocate(int64_t bytes, std::string &error);
  void release(void *buffer);
  /// Copies `bytes` between any two of host and device memory.
  bool copy(void *dst, const void *src, int64_t bytes, std::string &error);

private:
  Device() = default;
  void *library = nullptr; // our own reference to the module's library
  void *(*memAlloc)(uint64_t, void *, bool) = nullptr; // null: host memory
  void (*memFree)(void *, void *) = nullptr;
  void (*memcpy)(void *, void *, size_t, void *) = nullptr;
  void *(*streamCreate)() = nullptr;
  void (*streamSynchronize)(void *) = nullptr;
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_DEVICE_H
