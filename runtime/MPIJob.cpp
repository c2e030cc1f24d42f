//===- MPIJob.cpp - The MPI job of a data-parallel module -----------------===//

#include "runtime/MPIJob.h"

#include "runtime/RuntimeABI.h"
#include "runtime/Symbols.h"

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <limits>
#include <mutex>

namespace moa::runtime {
namespace {

/// The few MPI functions the runtime calls, and MPI_COMM_WORLD. In Open
/// MPI's ABI a communicator is a pointer and MPI_COMM_WORLD is the address
/// of `ompi_mpi_comm_world` (the module's MPI lowering assumes the same).
struct MPI {
  using Comm = void *;
  int (*initialized)(int *) = nullptr;
  int (*finalized)(int *) = nullptr;
  int (*init)(int *, char ***) = nullptr;
  int (*finalize)() = nullptr;
  int (*commRank)(Comm, int *) = nullptr;
  int (*commSize)(Comm, int *) = nullptr;
  int (*abort)(Comm, int) = nullptr;
  int (*allReduce)(const void *, void *, int, void *, void *, Comm) = nullptr;
  int (*broadcast)(void *, int, void *, int, Comm) = nullptr;
  Comm world = nullptr;
  void *floatType = nullptr, *byteType = nullptr, *sum = nullptr;
};

MPI mpi;
bool joined = false;
int jobRank = 0, jobSize = 1;
std::mutex joining;

void finalizeAtExit() {
  int done = 0;
  if (mpi.finalized && mpi.finalized(&done) == 0 && !done)
    mpi.finalize();
}

/// Binds `mpi` to the libmpi that `handle` depends on and keeps that
/// library loaded for good (Open MPI cannot be unloaded, and its plugins
/// look its symbols up globally).
bool bind(void *handle, std::string &error) {
  bool found = bindSymbol(handle, mpi.initialized, "MPI_Initialized") &&
               bindSymbol(handle, mpi.finalized, "MPI_Finalized") &&
               bindSymbol(handle, mpi.init, "MPI_Init") &&
               bindSymbol(handle, mpi.finalize, "MPI_Finalize") &&
               bindSymbol(handle, mpi.commRank, "MPI_Comm_rank") &&
               bindSymbol(handle, mpi.commSize, "MPI_Comm_size") &&
               bindSymbol(handle, mpi.abort, "MPI_Abort") &&
               bindSymbol(handle, mpi.allReduce, "MPI_Allreduce") &&
               bindSymbol(handle, mpi.broadcast, "MPI_Bcast") &&
               (mpi.world = dlsym(handle, "ompi_mpi_comm_world")) &&
               (mpi.floatType = dlsym(handle, "ompi_mpi_float")) &&
               (mpi.byteType = dlsym(handle, "ompi_mpi_byte")) &&
               (mpi.sum = dlsym(handle, "ompi_mpi_op_sum"));
  Dl_info info;
  if (!found || !dladdr(reinterpret_cast<void *>(mpi.init), &info) ||
      !dlopen(info.dli_fname,
              RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD | RTLD_NODELETE)) {
    error = "it does not bring Open MPI's libmpi with it";
    return false;
  }
  return true;
}

} // namespace

bool joinMPIJob(void *moduleHandle, int64_t ranks, const std::string &path,
                MPIJob &job, std::string &error) {
  std::lock_guard<std::mutex> lock(joining);
  const std::string what = "module '" + path + "' is data parallel over " +
                           std::to_string(ranks) + " ranks, but ";
  if (!joined) {
    std::string why;
    if (!bind(moduleHandle, why)) {
      error = what + why;
      return false;
    }
    int initialized = 0;
    if (mpi.initialized(&initialized) != 0 ||
        (!initialized && mpi.init(nullptr, nullptr) != 0)) {
      error = what + "MPI_Init failed";
      return false;
    }
    if (!initialized)
      std::atexit(finalizeAtExit);
    joined = true;
  }
  if (mpi.commRank(mpi.world, &job.rank) != 0 ||
      mpi.commSize(mpi.world, &job.size) != 0) {
    error = what + "MPI does not tell this process's rank";
    return false;
  }
  jobRank = job.rank;
  jobSize = job.size;
  if (job.size != ranks) {
    error = what + "this job has " + std::to_string(job.size) +
            (job.size == 1 ? " process" : " processes") +
            ": run it with mpirun -np " + std::to_string(ranks) +
            " (or compile it with moa-data-parallel{axis-size=" +
            std::to_string(job.size) + "})";
    return false;
  }
  return true;
}

void abortMPIJob(int code) {
  std::lock_guard<std::mutex> lock(joining);
  // A process alone has nobody to stop: it just exits with `code`.
  if (joined && jobSize > 1)
    mpi.abort(mpi.world, code);
}

} // namespace moa::runtime

using namespace moa::runtime;

extern "C" {
// The job's collectives, for the GPU runtimes (RuntimeABI.h). MPI counts
// are ints: larger buffers go in int-sized pieces.

int moa_rt_job_rank() { return jobRank; }
int moa_rt_job_size() { return jobSize; }

int moa_rt_job_all_reduce_sum_f32(const float *send, float *recv,
                                  int64_t count) {
  if (!joined) {
    moa_rt_report_error("an all-reduce outside an MPI job");
    return 1;
  }
  constexpr int64_t kPiece = std::numeric_limits<int>::max();
  for (int64_t done = 0; done < count; done += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, count - done));
    if (mpi.allReduce(send + done, recv + done, n, mpi.floatType, mpi.sum,
                      mpi.world) != 0) {
      moa_rt_report_error("MPI_Allreduce failed");
      return 1;
    }
  }
  return 0;
}

int moa_rt_job_broadcast(void *bytes, int64_t size) {
  if (!joined || size > std::numeric_limits<int>::max() ||
      mpi.broadcast(bytes, static_cast<int>(size), mpi.byteType, /*root=*/0,
                    mpi.world) != 0) {
    moa_rt_report_error("MPI_Bcast from rank 0 failed");
    return 1;
  }
  return 0;
}
} // extern "C"
