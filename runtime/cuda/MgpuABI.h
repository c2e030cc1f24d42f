//===- MgpuABI.h - The host ABI that lowered GPU code calls -----*- C++ -*-===//
//
// MLIR's GPU lowering (gpu-to-llvm and the offloading translation) emits
// calls of these functions; LLVM 22.1.8 emits exactly these prototypes.
// moa implements all of them twice: over the CUDA driver API (MgpuCuda.cpp,
// loaded with dlopen so binaries start on machines without a driver) and as
// a mock that records the call sequence on CPU-only machines (MgpuMock.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_CUDA_MGPUABI_H
#define MOA_RUNTIME_CUDA_MGPUABI_H

#include <cstddef>
#include <cstdint>

extern "C" {
void *mgpuModuleLoad(void *blob, size_t size);
void *mgpuModuleLoadJIT(void *ptx, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate();
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream);
void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream);
void mgpuSetDefaultDevice(int32_t device);
void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra);
void mgpuMemHostRegisterMemRef(int64_t rank, void *stridedMemRefDesc,
                               int64_t elementBytes);
void mgpuMemHostUnregisterMemRef(int64_t rank, void *stridedMemRefDesc,
                                 int64_t elementBytes);
/// A TMA descriptor (CUtensorMap) of the memref, in device memory.
void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *stridedMemRefDesc,
                                     int64_t dataType, int64_t interleave,
                                     int64_t swizzle, int64_t l2Promotion,
                                     int64_t oobFill, int64_t *boxDims);
}

#endif // MOA_RUNTIME_CUDA_MGPUABI_H
