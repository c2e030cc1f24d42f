/*===- fake_libcuda.c - A stand-in libcuda.so.1 for runtime/cuda tests ----===*\
|*                                                                            *|
|* Exports the driver entry points runtime/cuda/MgpuCuda.cpp binds, with the  *|
|* exact (versioned) names. Device memory is host memory; a launch runs the   *|
|* test kernel test/GPU/Inputs/scale.mlir on the CPU (buffer *= factor).      *|
|* FAKE_CUDA_INIT_ERROR / FAKE_CUDA_LOAD_ERROR make cuInit / cuModuleLoadData *|
|* fail with that CUresult; calls with flags are logged to FAKE_CUDA_LOG.     *|
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
int cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
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
