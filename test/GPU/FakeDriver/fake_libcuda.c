/*===- fake_libcuda.c - A stand-in libcuda.so.1 for runtime/cuda tests ----===*\
|*                                                                            *|
|* Exports the driver entry points runtime/cuda/MgpuCuda.cpp binds, with the  *|
|* exact (versioned) names. Device memory is host memory; a launch runs the   *|
|* test kernel test/GPU/Inputs/scale.mlir on the CPU (buffer *= factor).      *|
|* FAKE_CUDA_INIT_ERROR / FAKE_CUDA_LOAD_ERROR make cuInit / cuModuleLoadData *|
|* fail with that CUresult; FAKE_CUDA_DEVICES is the device count (1); calls  *|
|* with flags or ordinals are logged to FAKE_CUDA_LOG.                        *|
\*===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int envInt(const char *name) {
  const char *value = getenv(name);
  return value ? atoi(value) : 0;
}

static void logCall(const char *text, unsigned value) {
  const char *path = getenv("FAKE_CUDA_LOG");
  FILE *out = path ? fopen(path, "a") : NULL;
  if (!out)
    return;
  fprintf(out, "%s %u\n", text, value);
  fclose(out);
}

static int context, stream, module;

int cuInit(unsigned flags) { return envInt("FAKE_CUDA_INIT_ERROR"); }
int cuDeviceGetCount(int *count) {
  const char *devices = getenv("FAKE_CUDA_DEVICES");
  *count = devices ? atoi(devices) : 1;
  return 0;
}
int cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  logCall("cuDeviceGet ordinal", ordinal);
  return 0;
}
int cuDevicePrimaryCtxRetain(void **ctx, int device) {
  *ctx = &context;
  return 0;
}
int cuCtxSetCurrent(void *ctx) { return ctx == &context ? 0 : 201; }
int cuGetErrorName(int error, const char **name) {
  *name = error == 100   ? "CUDA_ERROR_NO_DEVICE"
          : error == 209 ? "CUDA_ERROR_NO_BINARY_FOR_GPU"
                         : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuModuleLoadData(void **m, const void *image) {
  int error = envInt("FAKE_CUDA_LOAD_ERROR");
  *m = error ? NULL : &module;
  return error;
}
int cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *options,
                       void **values) {
  *m = &module;
  return 0;
}
int cuModuleUnload(void *m) { return 0; }
int cuModuleGetFunction(void **function, void *m, const char *name) {
  *function = m;
  return 0;
}
int cuFuncSetAttribute(void *function, int attribute, int value) { return 0; }
int cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, unsigned smem,
                   void *s, void **params, void **extra) {
  /* scale(%buf: memref<?xf32>, %n: index, %factor: f32): the memref is 5
     parameters (allocated, aligned, offset, size, stride). */
  float *buffer = *(float **)params[1];
  int64_t n = *(int64_t *)params[5];
  float factor = *(float *)params[6];
  for (int64_t i = 0; i < n; ++i)
    buffer[i] *= factor;
  logCall("cuLaunchKernel block.x", bx);
  return 0;
}
int cuStreamCreate(void **s, unsigned flags) {
  *s = &stream;
  logCall("cuStreamCreate flags", flags);
  return 0;
}
int cuStreamSynchronize(void *s) { return 0; }
int cuStreamWaitEvent(void *s, void *e, unsigned flags) { return 0; }
int cuEventCreate(void **e, unsigned flags) {
  *e = &stream;
  logCall("cuEventCreate flags", flags);
  return 0;
}
int cuEventDestroy_v2(void *e) { return 0; }
int cuEventSynchronize(void *e) { return 0; }
int cuEventRecord(void *e, void *s) { return 0; }
int cuEventElapsedTime(float *ms, void *start, void *end) {
  *ms = 1.5f;
  return 0;
}
int cuMemAlloc_v2(unsigned long long *p, size_t bytes) {
  *p = (unsigned long long)(uintptr_t)malloc(bytes);
  return 0;
}
int cuMemAllocManaged(unsigned long long *p, size_t bytes, unsigned flags) {
  *p = (unsigned long long)(uintptr_t)malloc(bytes);
  return 0;
}
int cuMemFree_v2(unsigned long long p) {
  free((void *)(uintptr_t)p);
  return 0;
}
int cuMemcpyAsync(unsigned long long dst, unsigned long long src, size_t bytes,
                  void *s) {
  memmove((void *)(uintptr_t)dst, (void *)(uintptr_t)src, bytes);
  return 0;
}
int cuMemsetD32Async(unsigned long long dst, unsigned value, size_t n,
                     void *s) {
  return 0;
}
int cuMemsetD16Async(unsigned long long dst, unsigned short value, size_t n,
                     void *s) {
  return 0;
}

/* The optional entry points: cluster launches, TMA descriptors, host
   registration. Their arguments are logged as the driver would see them. */
typedef struct {
  int id;
  char pad[4];
  union {
    char bytes[64];
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
} FakeLaunchAttribute;
typedef struct {
  unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void *hStream;
  FakeLaunchAttribute *attrs;
  unsigned numAttrs;
} FakeLaunchConfig;

static void logText(const char *text) {
  const char *path = getenv("FAKE_CUDA_LOG");
  FILE *out = path ? fopen(path, "a") : NULL;
  if (!out)
    return;
  fprintf(out, "%s\n", text);
  fclose(out);
}

int cuLaunchKernelEx(const FakeLaunchConfig *c, void *function, void **params,
                     void **extra) {
  char text[256];
  unsigned cx = 0, cy = 0, cz = 0;
  for (unsigned i = 0; i < c->numAttrs; ++i)
    if (c->attrs[i].id == 4) {
      cx = c->attrs[i].value.clusterDim.x;
      cy = c->attrs[i].value.clusterDim.y;
      cz = c->attrs[i].value.clusterDim.z;
    }
  snprintf(text, sizeof text,
           "cuLaunchKernelEx grid %u %u %u block %u %u %u smem %u cluster %u "
           "%u %u",
           c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY,
           c->blockDimZ, c->sharedMemBytes, cx, cy, cz);
  logText(text);
  return 0;
}
int cuTensorMapEncodeTiled(void *map, int type, unsigned rank, void *address,
                           const unsigned long long *dims,
                           const unsigned long long *strides,
                           const unsigned *box, const unsigned *elementStrides,
                           int interleave, int swizzle, int l2, int oob) {
  char text[256];
  int n = snprintf(text, sizeof text, "cuTensorMapEncodeTiled type %d rank %u",
                   type, rank);
  for (unsigned i = 0; i < rank; ++i)
    n += snprintf(text + n, sizeof text - n, " dim %llu box %u", dims[i],
                  box[i]);
  for (unsigned i = 0; i + 1 < rank; ++i)
    n += snprintf(text + n, sizeof text - n, " stride %llu", strides[i]);
  snprintf(text + n, sizeof text - n, " swizzle %d", swizzle);
  logText(text);
  memset(map, 0x5a, 128);
  return 0;
}
int cuMemHostRegister_v2(void *p, size_t bytes, unsigned flags) {
  logCall("cuMemHostRegister bytes", (unsigned)bytes);
  return 0;
}
int cuMemHostUnregister(void *p) {
  logCall("cuMemHostUnregister", 0);
  return 0;
}
int cuCtxSynchronize(void) {
  logText("cuCtxSynchronize");
  return 0;
}
int cuMemcpy(unsigned long long dst, unsigned long long src, size_t bytes) {
  memmove((void *)(uintptr_t)dst, (void *)(uintptr_t)src, bytes);
  return 0;
}
