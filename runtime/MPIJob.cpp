//===- MPIJob.cpp - The MPI job of a data-parallel module -----------------===//

#include "runtime/MPIJob.h"

#include <cstdlib>
#include <dlfcn.h>
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
  Comm world = nullptr;
};

MPI mpi;
bool joined = false;
int jobSize = 1;
std::mutex joining;

template <typename F> bool find(void *handle, const char *name, F &out) {
  out = reinterpret_cast<F>(dlsym(handle, name));
  return out != nullptr;
}

void finalizeAtExit() {
  int done = 0;
  if (mpi.finalized && mpi.finalized(&done) == 0 && !done)
    mpi.finalize();
}

/// Binds `mpi` to the libmpi that `handle` depends on and keeps that
/// library loaded for good (Open MPI cannot be unloaded, and its plugins
/// look its symbols up globally).
bool bind(void *handle, std::string &error) {
  bool found = find(handle, "MPI_Initialized", mpi.initialized) &&
               find(handle, "MPI_Finalized", mpi.finalized) &&
               find(handle, "MPI_Init", mpi.init) &&
               find(handle, "MPI_Finalize", mpi.finalize) &&
               find(handle, "MPI_Comm_rank", mpi.commRank) &&
               find(handle, "MPI_Comm_size", mpi.commSize) &&
               find(handle, "MPI_Abort", mpi.abort) &&
               (mpi.world = dlsym(handle, "ompi_mpi_comm_world")) != nullptr;
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
