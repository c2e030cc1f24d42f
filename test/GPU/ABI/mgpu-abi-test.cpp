//===- mgpu-abi-test.cpp - The mgpu* entry points no moa kernel uses yet --===//
//
// Calls the cluster launch, host registration and TMA descriptor entry
// points of the host runtime it is linked with (the driver-API one, under
// the stand-in libcuda.so.1, or the mock), so their marshalling of memref
// descriptors and launch configurations can be checked from the logs.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/MgpuABI.h"

#include <cstdio>

namespace {
/// A strided memref descriptor of rank 2, as MLIR passes it.
struct Descriptor2D {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};
} // namespace

int main() {
  static char image[16];
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *function = mgpuModuleGetFunction(module, "kernel");
  void *stream = mgpuStreamCreate();
  mgpuLaunchClusterKernel(function, 2, 1, 1, 8, 3, 1, 128, 1, 1, 1024, stream,
                          nullptr, nullptr);
  static float data[6 * 8];
  Descriptor2D matrix = {data, data, 8, {5, 8}, {8, 1}}; // rows 1..5 of 6
  mgpuMemHostRegisterMemRef(2, &matrix, sizeof(float));
  int64_t box[2] = {2, 4};
  void *map = mgpuTensorMapEncodeTiledMemref(2, &matrix, /*FLOAT32=*/7, 0,
                                             /*SWIZZLE_128B=*/3, 0, 0, box);
  // The same map again is the same device copy; another box is another.
  void *again = mgpuTensorMapEncodeTiledMemref(2, &matrix, 7, 0, 3, 0, 0, box);
  int64_t otherBox[2] = {1, 4};
  void *other =
      mgpuTensorMapEncodeTiledMemref(2, &matrix, 7, 0, 3, 0, 0, otherBox);
  std::printf("tensor map again: %s, another: %s\n",
              again == map ? "same" : "new", other != map ? "new" : "same");
  mgpuMemHostUnregisterMemRef(2, &matrix, sizeof(float));
  // 1200 distinct maps: the runtime keeps at most 1024 device copies.
  for (int64_t rows = 1; rows <= 30; ++rows)
    for (int64_t cols = 1; cols <= 40; ++cols) {
      int64_t boxes[2] = {rows, cols};
      mgpuTensorMapEncodeTiledMemref(2, &matrix, 7, 0, 3, 0, 0, boxes);
    }
  mgpuStreamSynchronize(stream);
  std::printf("tensor map %s\n", map ? "made" : "missing");
  return map ? 0 : 1;
}
