//===- AllReduceABI.h - The GPU runtimes' all-reduce entry ------*- C++ -*-===//
//
// A data-parallel GPU module sums its gradient bucket over the job's ranks
// through _mlir_ciface_moa_gpu_all_reduce_sum_f32(send, receive)
// (moa-convert-mpi-to-gpu-runtime): each GPU runtime defines it, NCCL on
// CUDA (Nccl.cpp), MPI on the host memory of the mock and the emulator
// (sumOverHostMemory). Header-only, as the emulator is a test library.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_CUDA_ALLREDUCEABI_H
#define MOA_RUNTIME_CUDA_ALLREDUCEABI_H

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "runtime/RuntimeABI.h"

#include <string>

namespace moa::runtime {

using FloatView = StridedMemRefType<float, 1>;

/// The contiguous buffers of an all-reduce: false, after reporting why, if
/// the views are strided or of different sizes (the lowering never makes
/// such, so this is a broken module).
inline bool contiguousPair(const FloatView *send, const FloatView *recv,
                           const float *&sendData, float *&recvData,
                           int64_t &count) {
  if (send->sizes[0] != recv->sizes[0] ||
      (send->sizes[0] > 1 &&
       (send->strides[0] != 1 || recv->strides[0] != 1))) {
    moa_rt_report_error(("moa_gpu_all_reduce_sum_f32: expected two "
                         "contiguous buffers of the same size, got " +
                         std::to_string(send->sizes[0]) + " and " +
                         std::to_string(recv->sizes[0]) + " elements")
                            .c_str());
    return false;
  }
  sendData = send->data + send->offset;
  recvData = recv->data + recv->offset;
  count = send->sizes[0];
  return true;
}

/// The all-reduce of a runtime whose device memory is host memory.
inline void sumOverHostMemory(const FloatView *send, const FloatView *recv) {
  const float *sendData;
  float *recvData;
  int64_t count;
  if (contiguousPair(send, recv, sendData, recvData, count))
    moa_rt_job_all_reduce_sum_f32(sendData, recvData, count);
}

} // namespace moa::runtime

#endif // MOA_RUNTIME_CUDA_ALLREDUCEABI_H
