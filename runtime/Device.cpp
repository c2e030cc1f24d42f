//===- Device.cpp - The GPU memory a compiled module runs on --------------===//

#include "runtime/Device.h"
#include "runtime/KernelContext.h"
#include "runtime/RuntimeABI.h"
#include "runtime/Symbols.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace moa::runtime {

std::shared_ptr<Device> Device::forModule(const std::string &path) {
  // Our own reference: the module is loaded, so this only counts it.
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (!library)
    return nullptr;
  std::shared_ptr<Device> device(new Device());
  device->library = library;
  // The mgpu* functions of the module's own dependencies (dlsym on a
  // handle searches them); an emulated module has none.
  if (bindSymbol(library, device->memAlloc, "mgpuMemAlloc") &&
      !(bindSymbol(library, device->memFree, "mgpuMemFree") &&
        bindSymbol(library, device->memcpy, "mgpuMemcpy") &&
        bindSymbol(library, device->streamCreate, "mgpuStreamCreate") &&
        bindSymbol(library, device->streamSynchronize,
                   "mgpuStreamSynchronize")))
    return nullptr;
  return device;
}

Device::~Device() {
  if (library)
    dlclose(library);
}

const char *Device::describe() const {
  return memAlloc ? "CUDA" : "the CPU emulator";
}

void *Device::allocate(int64_t bytes, std::string &error) {
  // At least one byte, so that a tensor's data is never null.
  const uint64_t size = std::max<int64_t>(bytes, 1);
  if (!memAlloc) {
    void *buffer = std::malloc(size);
    if (!buffer)
      error = "out of memory: " + std::to_string(size) + " bytes";
    return buffer;
  }
  // The mgpu* functions report failures to the calling thread's context.
  KernelContext context;
  ScopedKernelContext scope(&context);
  void *buffer = memAlloc(size, nullptr, /*isHostShared=*/false);
  if (!buffer && context.error.empty())
    context.error =
        "cannot allocate " + std::to_string(size) + " bytes of device memory";
  error = context.error;
  return error.empty() ? buffer : nullptr;
}

void Device::release(void *buffer) {
  if (!memAlloc) {
    std::free(buffer);
    return;
  }
  KernelContext context; // a failure to free has no one to tell
  ScopedKernelContext scope(&context);
  memFree(buffer, nullptr);
}

bool Device::copy(void *dst, const void *src, int64_t bytes,
                  std::string &error) {
  if (bytes <= 0)
    return true;
  if (!memAlloc) {
    std::memmove(dst, src, bytes);
    return true;
  }
  KernelContext context;
  ScopedKernelContext scope(&context);
  void *stream = streamCreate();
  memcpy(dst, const_cast<void *>(src), bytes, stream);
  streamSynchronize(stream);
  error = context.error;
  return error.empty();
}

} // namespace moa::runtime
