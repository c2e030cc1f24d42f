//===- MgpuCuda.cpp - The mgpu* host ABI over the CUDA driver API ---------===//
//
// libcuda.so.1 is opened with dlopen on first use, so binaries start on
// machines without a driver; there every call reports "no GPU is available".
// Errors carry the CUDA error name and go to the runtime's per-call failure
// record (moa_rt_report_error), so moa-run prints them. One stream per
// thread is created once and handed out by mgpuStreamCreate (the lowering
// otherwise creates and destroys a stream around every operation), so all
// asynchronous work of a thread is ordered on it and mgpuStreamDestroy only
// synchronises. The device's primary context is made current on the calling
// thread and left so. Cluster launches, TMA descriptors and host
// registration use driver entry points that are looked up but not required.
//
//===----------------------------------------------------------------------===//

#include "runtime/Symbols.h"
#include "runtime/cuda/MgpuABI.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

extern "C" void moa_rt_report_error(const char *message);

namespace {

using moa::runtime::bindSymbol;

using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = unsigned long long;

constexpr int kMaxDynamicSharedSizeBytes = 8;       // CU_FUNC_ATTRIBUTE_...
constexpr int kLaunchAttributeClusterDimension = 4; // CU_LAUNCH_ATTRIBUTE_...

// cuda.h's launch configuration for cuLaunchKernelEx (CUDA 12 and 13).
struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
};
struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
};
// cuda.h's CUtensorMap: 128 opaque bytes, 128-byte aligned.
struct alignas(128) CUtensorMap {
  unsigned long long opaque[16];
};
constexpr unsigned kMemAttachGlobal = 1;    // CU_MEM_ATTACH_GLOBAL
constexpr unsigned kStreamNonBlocking = 1;  // CU_STREAM_NON_BLOCKING
constexpr unsigned kEventDisableTiming = 2; // CU_EVENT_DISABLE_TIMING
constexpr int kJitOptimizationLevel = 7;    // CU_JIT_OPTIMIZATION_LEVEL

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  // Optional: the clusters, TMA and host-registration entry points, and
  // MOA_CUDA_TIMING's; a call that needs a missing one says so.
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuLaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **,
                               void **);
  CUresult (*cuTensorMapEncodeTiled)(CUtensorMap *, int, unsigned, void *,
                                     const unsigned long long *,
                                     const unsigned long long *,
                                     const unsigned *, const unsigned *, int,
                                     int, int, int);
  CUresult (*cuMemHostRegister)(void *, size_t, unsigned);
  CUresult (*cuMemHostUnregister)(void *);
  CUresult (*cuMemcpy)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);

  std::string error; // why the driver is unusable, empty if it is usable
  CUcontext context = nullptr;
  std::string initError;   // why initialisation failed, if it did
  std::string moduleError; // why the last module load failed
  std::mutex mutex;        // guards moduleError
};

std::atomic<int> defaultDevice{0};

// Never destroyed: generated code unloads its module from a global
// destructor that may run after ours.
Driver &driver() {
  static Driver &d = *[] {
    Driver *d = new Driver();
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char *why = dlerror();
      d->error = std::string("no GPU is available: the CUDA driver "
                             "(libcuda.so.1) cannot be loaded") +
                 (why ? std::string(" (") + why + ")" : "");
      return d;
    }
    bool ok =
        bindSymbol(library, d->cuInit, "cuInit") &&
        bindSymbol(library, d->cuDeviceGet, "cuDeviceGet") &&
        bindSymbol(library, d->cuDevicePrimaryCtxRetain,
                   "cuDevicePrimaryCtxRetain") &&
        bindSymbol(library, d->cuCtxSetCurrent, "cuCtxSetCurrent") &&
        bindSymbol(library, d->cuGetErrorName, "cuGetErrorName") &&
        bindSymbol(library, d->cuModuleLoadData, "cuModuleLoadData") &&
        bindSymbol(library, d->cuModuleLoadDataEx, "cuModuleLoadDataEx") &&
        bindSymbol(library, d->cuModuleUnload, "cuModuleUnload") &&
        bindSymbol(library, d->cuModuleGetFunction, "cuModuleGetFunction") &&
        bindSymbol(library, d->cuFuncSetAttribute, "cuFuncSetAttribute") &&
        bindSymbol(library, d->cuLaunchKernel, "cuLaunchKernel") &&
        bindSymbol(library, d->cuStreamCreate, "cuStreamCreate") &&
        bindSymbol(library, d->cuStreamSynchronize, "cuStreamSynchronize") &&
        bindSymbol(library, d->cuStreamWaitEvent, "cuStreamWaitEvent") &&
        bindSymbol(library, d->cuEventCreate, "cuEventCreate") &&
        bindSymbol(library, d->cuEventDestroy, "cuEventDestroy_v2") &&
        bindSymbol(library, d->cuEventSynchronize, "cuEventSynchronize") &&
        bindSymbol(library, d->cuEventRecord, "cuEventRecord") &&
        bindSymbol(library, d->cuMemAlloc, "cuMemAlloc_v2") &&
        bindSymbol(library, d->cuMemAllocManaged, "cuMemAllocManaged") &&
        bindSymbol(library, d->cuMemFree, "cuMemFree_v2") &&
        bindSymbol(library, d->cuMemcpyAsync, "cuMemcpyAsync") &&
        bindSymbol(library, d->cuMemsetD32Async, "cuMemsetD32Async") &&
        bindSymbol(library, d->cuMemsetD16Async, "cuMemsetD16Async");
    if (!ok) {
      d->error = "the CUDA driver lacks a required entry point";
      return d;
    }
    bindSymbol(library, d->cuEventElapsedTime, "cuEventElapsedTime");
    bindSymbol(library, d->cuDeviceGetCount, "cuDeviceGetCount");
    bindSymbol(library, d->cuLaunchKernelEx, "cuLaunchKernelEx");
    bindSymbol(library, d->cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled");
    bindSymbol(library, d->cuMemHostRegister, "cuMemHostRegister_v2");
    bindSymbol(library, d->cuMemHostUnregister, "cuMemHostUnregister");
    bindSymbol(library, d->cuMemcpy, "cuMemcpy");
    bindSymbol(library, d->cuCtxSynchronize, "cuCtxSynchronize");
    return d;
  }();
  return d;
}

/// The message for a failed driver call, with the CUDA error name.
std::string describe(CUresult result, const char *call) {
  const char *name = nullptr;
  driver().cuGetErrorName(result, &name);
  return std::string(call) +
         " failed: " + (name ? name : ("error " + std::to_string(result)));
}

/// Reports a failed driver call; true if `result` is success.
bool check(CUresult result, const char *call) {
  if (result == 0)
    return true;
  moa_rt_report_error(describe(result, call).c_str());
  return false;
}

/// Whether the optional entry point `slot` exists; reports it if not.
template <typename F> bool available(F slot, const char *name) {
  if (slot)
    return true;
  moa_rt_report_error(
      (std::string("the CUDA driver lacks ") + name + " (too old?)").c_str());
  return false;
}

/// The device this process uses: under mpirun, one rank per GPU (Open MPI's
/// local rank modulo the GPUs it sees, so CUDA_VISIBLE_DEVICES per rank
/// works too); else mgpuSetDefaultDevice's, 0 by default.
int deviceOrdinal(Driver &d) {
  const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  int count = 0;
  if (!local || !d.cuDeviceGetCount || d.cuDeviceGetCount(&count) != 0 ||
      count < 1)
    return defaultDevice.load();
  return std::atoi(local) % count;
}

/// The driver, initialised, with the device's primary context current on
/// this thread; null, after reporting why (on every call, so a failure in
/// the module's constructor before main is seen by the first entry call
/// too), if there is none.
Driver *ready() {
  Driver &d = driver();
  if (!d.error.empty()) {
    moa_rt_report_error(d.error.c_str());
    return nullptr;
  }
  static std::once_flag once;
  std::call_once(once, [&] {
    CUdevice device;
    CUresult result = d.cuInit(0);
    const char *call = "cuInit";
    if (result == 0) {
      result = d.cuDeviceGet(&device, deviceOrdinal(d));
      call = "cuDeviceGet";
    }
    if (result == 0) {
      result = d.cuDevicePrimaryCtxRetain(&d.context, device);
      call = "cuDevicePrimaryCtxRetain";
    }
    if (result != 0)
      d.initError = "no usable GPU: " + describe(result, call);
  });
  if (!d.initError.empty()) {
    moa_rt_report_error(d.initError.c_str());
    return nullptr;
  }
  if (!check(d.cuCtxSetCurrent(d.context), "cuCtxSetCurrent"))
    return nullptr;
  return &d;
}

/// Reports that the module an operation needs did not load, and why.
void reportMissingModule(Driver &d) {
  std::lock_guard<std::mutex> lock(d.mutex);
  std::string message = "the GPU module is not loaded";
  if (!d.moduleError.empty())
    message += ": " + d.moduleError;
  moa_rt_report_error(message.c_str());
}

CUdeviceptr address(void *p) { return reinterpret_cast<CUdeviceptr>(p); }

} // namespace

extern "C" {

void *mgpuModuleLoad(void *blob, size_t) {
  CUmodule module = nullptr;
  if (Driver *d = ready()) {
    CUresult result = d->cuModuleLoadData(&module, blob);
    if (result != 0) {
      std::string message = describe(result, "cuModuleLoadData");
      moa_rt_report_error(message.c_str());
      std::lock_guard<std::mutex> lock(d->mutex);
      d->moduleError = message;
    }
  }
  return module;
}

void *mgpuModuleLoadJIT(void *ptx, int optLevel) {
  CUmodule module = nullptr;
  int options[] = {kJitOptimizationLevel};
  void *values[] = {reinterpret_cast<void *>(intptr_t(optLevel))};
  if (Driver *d = ready())
    check(d->cuModuleLoadDataEx(&module, ptx, 1, options, values),
          "cuModuleLoadDataEx");
  return module;
}

void mgpuModuleUnload(void *module) {
  if (Driver *d = ready(); d && module)
    check(d->cuModuleUnload(module), "cuModuleUnload");
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = nullptr;
  Driver *d = ready();
  if (!d)
    return nullptr;
  if (!module)
    reportMissingModule(*d);
  else
    check(d->cuModuleGetFunction(&function, module, name),
          "cuModuleGetFunction");
  return function;
}

namespace {
/// MOA_CUDA_TIMING=FILE: between two synchronisations of a thread's stream,
/// the time from the start of the first kernel to the end of the last is
/// appended to FILE as "kernels <ms>". What the GPU benchmark compares: the
/// layer on the device, without the entry's host-device copies.
struct KernelSpan {
  CUevent first = nullptr, last = nullptr;
  bool open = false;
};
thread_local KernelSpan span;

const char *timingFile() {
  static const char *path = std::getenv("MOA_CUDA_TIMING");
  return path && *path ? path : nullptr;
}

void beforeLaunch(Driver &d, CUstream stream) {
  if (!timingFile() || !d.cuEventElapsedTime)
    return;
  if (!span.first &&
      (!check(d.cuEventCreate(&span.first, 0), "cuEventCreate") ||
       !check(d.cuEventCreate(&span.last, 0), "cuEventCreate")))
    return;
  if (!span.open)
    span.open = check(d.cuEventRecord(span.first, stream), "cuEventRecord");
}

void afterLaunch(Driver &d, CUstream stream) {
  if (span.open)
    check(d.cuEventRecord(span.last, stream), "cuEventRecord");
}

/// Whether `function` exists (its module loaded) and may use `smem` bytes
/// of dynamic shared memory; reports why not.
bool readyToLaunch(Driver &d, void *function, int32_t smem) {
  if (!function) {
    reportMissingModule(d);
    return false;
  }
  // Dynamic shared memory beyond the default limit (48 KiB minus the
  // kernel's static shared memory) must be asked for; asking is harmless.
  return smem <= 0 ||
         check(d.cuFuncSetAttribute(function, kMaxDynamicSharedSizeBytes, smem),
               "cuFuncSetAttribute");
}

/// After a synchronisation: writes the span, if one is open.
void closeSpan(Driver &d) {
  if (!span.open)
    return;
  span.open = false;
  float ms = 0;
  if (!check(d.cuEventElapsedTime(&ms, span.first, span.last),
             "cuEventElapsedTime"))
    return;
  if (FILE *out = std::fopen(timingFile(), "a")) {
    std::fprintf(out, "kernels %.6f\n", ms);
    std::fclose(out);
  }
}
} // namespace

void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy, intptr_t gz,
                      intptr_t bx, intptr_t by, intptr_t bz, int32_t smem,
                      void *stream, void **params, void **extra, size_t) {
  Driver *d = ready();
  if (!d || !readyToLaunch(*d, function, smem))
    return;
  beforeLaunch(*d, stream);
  check(d->cuLaunchKernel(function, gx, gy, gz, bx, by, bz, smem, stream,
                          params, extra),
        "cuLaunchKernel");
  afterLaunch(*d, stream);
}

void mgpuLaunchClusterKernel(void *function, intptr_t cx, intptr_t cy,
                             intptr_t cz, intptr_t gx, intptr_t gy, intptr_t gz,
                             intptr_t bx, intptr_t by, intptr_t bz,
                             int32_t smem, void *stream, void **params,
                             void **extra) {
  Driver *d = ready();
  if (!d || !available(d->cuLaunchKernelEx, "cuLaunchKernelEx") ||
      !readyToLaunch(*d, function, smem))
    return;
  CUlaunchAttribute cluster = {};
  cluster.id = kLaunchAttributeClusterDimension;
  cluster.value.clusterDim = {unsigned(cx), unsigned(cy), unsigned(cz)};
  CUlaunchConfig config = {
      unsigned(gx), unsigned(gy),   unsigned(gz), unsigned(bx), unsigned(by),
      unsigned(bz), unsigned(smem), stream,       &cluster,     1};
  beforeLaunch(*d, stream);
  check(d->cuLaunchKernelEx(&config, function, params, extra),
        "cuLaunchKernelEx");
  afterLaunch(*d, stream);
}

void *mgpuStreamCreate() {
  thread_local CUstream stream = nullptr;
  if (!stream)
    if (Driver *d = ready())
      check(d->cuStreamCreate(&stream, kStreamNonBlocking), "cuStreamCreate");
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  // The thread's stream is kept for the next call; finish its work.
  mgpuStreamSynchronize(stream);
}

void mgpuStreamSynchronize(void *stream) {
  if (Driver *d = ready();
      d && check(d->cuStreamSynchronize(stream), "cuStreamSynchronize"))
    closeSpan(*d);
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  if (Driver *d = ready())
    check(d->cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

void *mgpuEventCreate() {
  CUevent event = nullptr;
  if (Driver *d = ready())
    check(d->cuEventCreate(&event, kEventDisableTiming), "cuEventCreate");
  return event;
}

void mgpuEventDestroy(void *event) {
  if (Driver *d = ready(); d && event)
    check(d->cuEventDestroy(event), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  if (Driver *d = ready())
    check(d->cuEventSynchronize(event), "cuEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  if (Driver *d = ready())
    check(d->cuEventRecord(event, stream), "cuEventRecord");
}

void *mgpuMemAlloc(uint64_t bytes, void *, bool isHostShared) {
  CUdeviceptr pointer = 0;
  if (Driver *d = ready(); d && bytes)
    check(isHostShared ? d->cuMemAllocManaged(&pointer, bytes, kMemAttachGlobal)
                       : d->cuMemAlloc(&pointer, bytes),
          isHostShared ? "cuMemAllocManaged" : "cuMemAlloc");
  return reinterpret_cast<void *>(pointer);
}

void mgpuMemFree(void *ptr, void *stream) {
  // cuMemFree need not wait for work queued on the stream that uses ptr.
  if (Driver *d = ready(); d && ptr)
    if (!stream || check(d->cuStreamSynchronize(stream), "cuStreamSynchronize"))
      check(d->cuMemFree(address(ptr)), "cuMemFree");
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  if (Driver *d = ready())
    check(d->cuMemcpyAsync(address(dst), address(src), bytes, stream),
          "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream) {
  if (Driver *d = ready())
    check(d->cuMemsetD32Async(address(dst), value, count, stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream) {
  if (Driver *d = ready())
    check(d->cuMemsetD16Async(address(dst), value, count, stream),
          "cuMemsetD16Async");
}

namespace {
/// The data pointer and byte size of a strided memref descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
std::pair<char *, size_t> memrefSpan(int64_t rank, void *descriptor,
                                     int64_t elementBytes) {
  auto *fields = static_cast<int64_t *>(descriptor);
  char *aligned = reinterpret_cast<char **>(descriptor)[1];
  size_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= size_t(fields[3 + i]);
  return {aligned + fields[2] * elementBytes, count * size_t(elementBytes)};
}

/// Bytes per element of a CUtensorMapDataType (uint8 .. tfloat32_ftz).
int64_t tensorMapElementBytes(int64_t dataType) {
  static const int64_t bytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  return dataType >= 0 && dataType < 13 ? bytes[dataType] : 0;
}
} // namespace

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementBytes) {
  Driver *d = ready();
  if (!d || !available(d->cuMemHostRegister, "cuMemHostRegister"))
    return;
  auto [data, bytes] = memrefSpan(rank, descriptor, elementBytes);
  if (bytes)
    check(d->cuMemHostRegister(data, bytes, 0), "cuMemHostRegister");
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementBytes) {
  Driver *d = ready();
  if (!d || !available(d->cuMemHostUnregister, "cuMemHostUnregister"))
    return;
  auto [data, bytes] = memrefSpan(rank, descriptor, elementBytes);
  if (bytes)
    check(d->cuMemHostUnregister(data), "cuMemHostUnregister");
}

/// Device copies of tensor maps kept before they are all freed.
constexpr size_t kMaxTensorMaps = 1024;

void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
                                     int64_t dataType, int64_t interleave,
                                     int64_t swizzle, int64_t l2Promotion,
                                     int64_t oobFill, int64_t *boxDims) {
  Driver *d = ready();
  if (!d || !available(d->cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled") ||
      !available(d->cuMemcpy, "cuMemcpy"))
    return nullptr;
  const int64_t elementBytes = tensorMapElementBytes(dataType);
  if (rank < 1 || rank > 5 || !elementBytes) {
    moa_rt_report_error("mgpuTensorMapEncodeTiledMemref: a TMA descriptor "
                        "needs rank 1 to 5 and a known element type");
    return nullptr;
  }
  // The driver counts dimensions innermost first; strides in bytes, of all
  // but the innermost dimension.
  auto *fields = static_cast<int64_t *>(descriptor);
  const int64_t *sizes = fields + 3, *strides = fields + 3 + rank;
  unsigned long long dims[5], byteStrides[5] = {};
  unsigned box[5], elementStrides[5] = {1, 1, 1, 1, 1};
  for (int64_t i = 0; i < rank; ++i) {
    dims[i] = sizes[rank - 1 - i];
    box[i] = unsigned(boxDims[rank - 1 - i]);
  }
  for (int64_t i = 0; i + 1 < rank; ++i)
    byteStrides[i] = strides[rank - 2 - i] * elementBytes;
  char *data =
      reinterpret_cast<char **>(descriptor)[1] + fields[2] * elementBytes;
  // A layer makes its weights' maps on every call: one device copy per
  // distinct map (the same arguments encode the same map), kept, since
  // kernels may still read it when this returns.
  std::string key(reinterpret_cast<const char *>(&data), sizeof(data));
  for (int64_t v : {rank, dataType, interleave, swizzle, l2Promotion, oobFill})
    key.append(reinterpret_cast<const char *>(&v), sizeof(v));
  for (int64_t i = 0; i < rank; ++i)
    for (int64_t v :
         {int64_t(dims[i]), int64_t(box[i]), int64_t(byteStrides[i])})
      key.append(reinterpret_cast<const char *>(&v), sizeof(v));
  static std::mutex mapsMutex;
  static std::map<std::string, CUdeviceptr> maps;
  std::lock_guard<std::mutex> lock(mapsMutex);
  if (auto it = maps.find(key); it != maps.end())
    return reinterpret_cast<void *>(it->second);
  // Maps of activations (attention's Q, K and V) come anew for every address
  // and shape their buffers get: past kMaxTensorMaps the copies are freed
  // once no kernel can still read one.
  if (maps.size() >= kMaxTensorMaps && d->cuCtxSynchronize &&
      check(d->cuCtxSynchronize(), "cuCtxSynchronize")) {
    for (const auto &entry : maps)
      check(d->cuMemFree(entry.second), "cuMemFree");
    maps.clear();
  }
  CUtensorMap map;
  if (!check(d->cuTensorMapEncodeTiled(
                 &map, int(dataType), unsigned(rank), data, dims, byteStrides,
                 box, elementStrides, int(interleave), int(swizzle),
                 int(l2Promotion), int(oobFill)),
             "cuTensorMapEncodeTiled"))
    return nullptr;
  // Kernels take the descriptor by pointer to device memory.
  CUdeviceptr device = 0;
  if (!check(d->cuMemAlloc(&device, sizeof(map)), "cuMemAlloc") ||
      !check(
          d->cuMemcpy(device, reinterpret_cast<CUdeviceptr>(&map), sizeof(map)),
          "cuMemcpy"))
    return nullptr;
  maps.emplace(std::move(key), device);
  return reinterpret_cast<void *>(device);
}

// Takes effect if called before the first GPU operation (usually the module
// load from a global constructor); later calls are ignored.
void mgpuSetDefaultDevice(int32_t device) { defaultDevice = device; }

} // extern "C"
