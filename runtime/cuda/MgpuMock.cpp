//===- MgpuMock.cpp - A recording mock of the mgpu* host ABI --------------===//
//
// For CPU-only machines: device memory is host memory, copies, memsets and
// all-reduces (over MPI) happen, kernels do not run. Every call is appended to
// the file named by MOA_MOCK_CUDA_LOG (stderr if unset), one line each, so
// tests can check what the compiled host code launches and in which order;
// copies say their direction (H2D, D2H, D2D), known from the blocks
// mgpuMemAlloc handed out.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/AllReduceABI.h"
#include "runtime/cuda/MgpuABI.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace {
std::mutex logMutex;

void record(const char *format, ...) __attribute__((format(printf, 1, 2)));
void record(const char *format, ...) {
  std::lock_guard<std::mutex> lock(logMutex);
  const char *path = std::getenv("MOA_MOCK_CUDA_LOG");
  FILE *out = path ? std::fopen(path, "a") : stderr;
  if (!out)
    return;
  va_list args;
  va_start(args, format);
  std::vfprintf(out, format, args);
  va_end(args);
  std::fputc('\n', out);
  if (path)
    std::fclose(out);
}

// Function handles are interned names: one handle per kernel.
std::map<std::string, std::unique_ptr<std::string>> functions;
int streams = 0;
// "Device" blocks: start -> size.
std::mutex memoryMutex;
std::map<const char *, size_t> deviceBlocks;

bool onDevice(const void *ptr) {
  std::lock_guard<std::mutex> lock(memoryMutex);
  const char *p = static_cast<const char *>(ptr);
  auto it = deviceBlocks.upper_bound(p);
  if (it == deviceBlocks.begin())
    return false;
  --it;
  return p < it->first + it->second;
}
} // namespace

extern "C" {

void *mgpuModuleLoad(void *blob, size_t size) {
  record("module-load %zu bytes", size);
  return blob;
}
void *mgpuModuleLoadJIT(void *ptx, int optLevel) {
  record("module-load-jit O%d", optLevel);
  return ptx;
}
void mgpuModuleUnload(void *) { record("module-unload"); }
void *mgpuModuleGetFunction(void *, const char *name) {
  record("get-function %s", name);
  std::lock_guard<std::mutex> lock(logMutex);
  std::unique_ptr<std::string> &handle = functions[name];
  if (!handle)
    handle = std::make_unique<std::string>(name);
  return handle.get();
}
void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy, intptr_t gz,
                      intptr_t bx, intptr_t by, intptr_t bz, int32_t smem,
                      void *, void **, void **, size_t paramsCount) {
  record("launch %s grid=(%ld,%ld,%ld) block=(%ld,%ld,%ld) smem=%d params=%zu",
         static_cast<std::string *>(function)->c_str(), long(gx), long(gy),
         long(gz), long(bx), long(by), long(bz), smem, paramsCount);
}
void *mgpuStreamCreate() {
  record("stream-create");
  return &streams;
}
void mgpuStreamDestroy(void *) { record("stream-destroy"); }
void mgpuStreamSynchronize(void *) { record("stream-synchronize"); }
void mgpuStreamWaitEvent(void *, void *) { record("stream-wait-event"); }
void *mgpuEventCreate() {
  record("event-create");
  return &streams;
}
void mgpuEventDestroy(void *) { record("event-destroy"); }
void mgpuEventSynchronize(void *) { record("event-synchronize"); }
void mgpuEventRecord(void *, void *) { record("event-record"); }
void *mgpuMemAlloc(uint64_t bytes, void *, bool isHostShared) {
  record("alloc %llu bytes%s", static_cast<unsigned long long>(bytes),
         isHostShared ? " host-shared" : "");
  void *block = bytes ? std::calloc(bytes, 1) : nullptr;
  if (block) {
    std::lock_guard<std::mutex> lock(memoryMutex);
    deviceBlocks[static_cast<const char *>(block)] = bytes;
  }
  return block;
}
void mgpuMemFree(void *ptr, void *) {
  record("free");
  {
    std::lock_guard<std::mutex> lock(memoryMutex);
    deviceBlocks.erase(static_cast<const char *>(ptr));
  }
  std::free(ptr);
}
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *) {
  record("memcpy %c2%c %zu bytes", onDevice(src) ? 'D' : 'H',
         onDevice(dst) ? 'D' : 'H', bytes);
  std::memmove(dst, src, bytes);
}
void mgpuMemset32(void *dst, uint32_t value, size_t count, void *) {
  record("memset32 %zu", count);
  for (size_t i = 0; i < count; ++i)
    std::memcpy(static_cast<char *>(dst) + 4 * i, &value, 4);
}
void mgpuMemset16(void *dst, uint16_t value, size_t count, void *) {
  record("memset16 %zu", count);
  for (size_t i = 0; i < count; ++i)
    std::memcpy(static_cast<char *>(dst) + 2 * i, &value, 2);
}
void mgpuSetDefaultDevice(int32_t device) { record("set-device %d", device); }
void mgpuLaunchClusterKernel(void *function, intptr_t cx, intptr_t cy,
                             intptr_t cz, intptr_t gx, intptr_t gy, intptr_t gz,
                             intptr_t bx, intptr_t by, intptr_t bz,
                             int32_t smem, void *, void **, void **) {
  record("launch %s cluster=(%ld,%ld,%ld) grid=(%ld,%ld,%ld) "
         "block=(%ld,%ld,%ld) smem=%d",
         static_cast<std::string *>(function)->c_str(), long(cx), long(cy),
         long(cz), long(gx), long(gy), long(gz), long(bx), long(by), long(bz),
         smem);
}
void mgpuMemHostRegisterMemRef(int64_t rank, void *, int64_t elementBytes) {
  record("host-register rank %lld, %lld-byte elements",
         static_cast<long long>(rank), static_cast<long long>(elementBytes));
}
void mgpuMemHostUnregisterMemRef(int64_t rank, void *, int64_t) {
  record("host-unregister rank %lld", static_cast<long long>(rank));
}
void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *, int64_t dataType,
                                     int64_t, int64_t swizzle, int64_t, int64_t,
                                     int64_t *) {
  record("tensor-map rank %lld type %lld swizzle %lld",
         static_cast<long long>(rank), static_cast<long long>(dataType),
         static_cast<long long>(swizzle));
  static char descriptor[128];
  return descriptor;
}

void _mlir_ciface_moa_gpu_all_reduce_sum_f32(moa::runtime::FloatView *send,
                                             moa::runtime::FloatView *recv) {
  record("allReduce sum f32 %lld", static_cast<long long>(send->sizes[0]));
  moa::runtime::sumOverHostMemory(send, recv);
}

} // extern "C"
