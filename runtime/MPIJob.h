//===- MPIJob.h - The MPI job of a data-parallel module ---------*- C++ -*-===//
//
// A module made data parallel by moa-data-parallel calls MPI_Allreduce; it
// is linked with Open MPI's libmpi, which comes with it when it is loaded.
// The runtime itself does not link MPI (a binary without MPI still starts):
// it finds MPI through the module's handle, initialises it once, checks
// that the job has as many ranks as the module was compiled for, and
// finalises it at exit. A rank that fails must abort the job (abortMPIJob)
// rather than exit: the others would wait in their next all-reduce.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_MPIJOB_H
#define MOA_RUNTIME_MPIJOB_H

#include <cstdint>
#include <string>

namespace moa::runtime {

struct MPIJob {
  int rank = 0, size = 1;
};

/// Initialises MPI through the library `moduleHandle` (a dlopen handle)
/// depends on, if this process has not yet, and sets `job`; false with
/// `error` if MPI cannot start or the job does not have `ranks` processes.
bool joinMPIJob(void *moduleHandle, int64_t ranks, const std::string &path,
                MPIJob &job, std::string &error);

/// Ends the whole job with `code` (MPI_Abort) if this process joined one;
/// returns otherwise.
void abortMPIJob(int code);

} // namespace moa::runtime

#endif // MOA_RUNTIME_MPIJOB_H
