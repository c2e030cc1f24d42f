//===- Nccl.cpp - The GPU all-reduce of a data-parallel module over NCCL --===//
//
// NCCL (MOA_NCCL_LIBRARY, else libnccl.so.2 from the library path or the
// CUDA toolkit) is opened with dlopen on the first all-reduce, as the
// driver is, so nothing needs it to build or start. The communicator spans
// the MPI job the runtime joined for the module (runtime/MPIJob.h): rank 0
// makes NCCL's unique id and broadcasts it over MPI with a status byte, so
// that every rank learns whether rank 0 could; a rank that cannot take part
// reports why, and the runtime then aborts the job rather than leave the
// others waiting. The all-reduce runs on the calling thread's stream
// (mgpuStreamCreate), after the kernels the host already waited for, and
// the call returns once the sums are in place.
//
//===----------------------------------------------------------------------===//

#include "runtime/Symbols.h"
#include "runtime/cuda/AllReduceABI.h"
#include "runtime/cuda/MgpuABI.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace {

using moa::runtime::bindSymbol;

// nccl.h (NCCL 2.x).
using ncclResult_t = int;
using ncclComm_t = void *;
struct ncclUniqueId {
  char internal[128];
};
constexpr int kNcclFloat32 = 7; // ncclFloat32
constexpr int kNcclSum = 0;     // ncclSum

struct Nccl {
  ncclResult_t (*getUniqueId)(ncclUniqueId *) = nullptr;
  ncclResult_t (*commInitRank)(ncclComm_t *, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*allReduce)(const void *, void *, size_t, int, int, ncclComm_t,
                            void *) = nullptr;
  const char *(*getErrorString)(ncclResult_t) = nullptr;
  ncclComm_t comm = nullptr;
  std::string error; // why this rank has no communicator, if it has none
};

/// MOA_NCCL_LIBRARY if set, else libnccl.so.2 from the library path or
/// $CUDA_HOME (default /usr/local/cuda); null with `error` if none loads.
void *openNccl(std::string &error) {
  if (const char *chosen = std::getenv("MOA_NCCL_LIBRARY"); chosen && *chosen) {
    if (void *library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL))
      return library;
    error =
        std::string("NCCL (MOA_NCCL_LIBRARY=") + chosen + ") cannot be loaded";
    return nullptr;
  }
  if (void *library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL))
    return library;
  const char *home = std::getenv("CUDA_HOME");
  const std::string root = home && *home ? home : "/usr/local/cuda";
  for (const char *dir : {"/lib/", "/lib64/"})
    if (void *library = dlopen((root + dir + "libnccl.so.2").c_str(),
                               RTLD_NOW | RTLD_LOCAL))
      return library;
  error = "NCCL (libnccl.so.2) cannot be loaded: put it on LD_LIBRARY_PATH "
          "or name it in MOA_NCCL_LIBRARY";
  return nullptr;
}

std::string describe(const Nccl &nccl, ncclResult_t result, const char *call) {
  const char *text = nccl.getErrorString ? nccl.getErrorString(result) : "";
  return std::string(call) + " failed: " +
         (text && *text ? text : "error " + std::to_string(result));
}

/// Binds `nccl`, exchanges the unique id and makes the communicator; sets
/// `nccl.error` if this rank cannot. Every rank takes part in the
/// broadcast, whatever happened before it.
void join(Nccl &nccl) {
  void *library = openNccl(nccl.error);
  if (library &&
      !(bindSymbol(library, nccl.getUniqueId, "ncclGetUniqueId") &&
        bindSymbol(library, nccl.commInitRank, "ncclCommInitRank") &&
        bindSymbol(library, nccl.allReduce, "ncclAllReduce") &&
        bindSymbol(library, nccl.getErrorString, "ncclGetErrorString")))
    nccl.error = "libnccl.so.2 lacks a required entry point (NCCL 2 needed)";
  const int rank = moa_rt_job_rank();
  // [0] says whether rank 0 made the id, [1..] is the id.
  char message[1 + sizeof(ncclUniqueId)] = {};
  ncclUniqueId id;
  if (rank == 0 && nccl.error.empty()) {
    ncclResult_t result = nccl.getUniqueId(&id);
    if (result == 0) {
      message[0] = 1;
      std::memcpy(message + 1, &id, sizeof(id));
    } else {
      nccl.error = describe(nccl, result, "ncclGetUniqueId");
    }
  }
  if (moa_rt_job_broadcast(message, sizeof(message)) != 0) {
    nccl.error = "the NCCL id could not be broadcast over MPI";
    return;
  }
  if (!nccl.error.empty())
    return;
  if (!message[0]) {
    nccl.error = "rank 0 could not make the NCCL communicator's id";
    return;
  }
  std::memcpy(&id, message + 1, sizeof(id));
  // The device's primary context is current once the thread has a stream.
  if (!mgpuStreamCreate()) {
    nccl.error = "no GPU for the NCCL communicator";
    return;
  }
  if (ncclResult_t result =
          nccl.commInitRank(&nccl.comm, moa_rt_job_size(), id, rank))
    nccl.error = describe(nccl, result, "ncclCommInitRank");
}

/// The job's communicator, made by the first all-reduce; null after
/// reporting why (on every call) if this rank has none.
Nccl *communicator() {
  static Nccl nccl;
  static std::once_flag once;
  std::call_once(once, [] { join(nccl); });
  if (!nccl.error.empty()) {
    moa_rt_report_error(nccl.error.c_str());
    return nullptr;
  }
  return &nccl;
}

} // namespace

extern "C" void
_mlir_ciface_moa_gpu_all_reduce_sum_f32(moa::runtime::FloatView *send,
                                        moa::runtime::FloatView *recv) {
  const float *sendData;
  float *recvData;
  int64_t count;
  if (!moa::runtime::contiguousPair(send, recv, sendData, recvData, count))
    return;
  Nccl *nccl = communicator();
  void *stream = nccl ? mgpuStreamCreate() : nullptr;
  if (!stream)
    return;
  if (ncclResult_t result =
          nccl->allReduce(sendData, recvData, static_cast<size_t>(count),
                          kNcclFloat32, kNcclSum, nccl->comm, stream)) {
    moa_rt_report_error(describe(*nccl, result, "ncclAllReduce").c_str());
    return;
  }
  mgpuStreamSynchronize(stream);
}
