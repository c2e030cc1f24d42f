/*===- fake_libnccl.c - A stand-in libnccl.so.2 for runtime/cuda tests ----===*\
|*                                                                            *|
|* Exports the NCCL entry points runtime/cuda/Nccl.cpp binds. Device memory   *|
|* is host memory here (the stand-in driver's), so the all-reduce is Open     *|
|* MPI's, found in the process (the runtime loads the module's libmpi         *|
|* globally). ncclCommInitRank checks what a real communicator needs: every   *|
|* rank got the id rank 0 made, and the ranks and size are the job's.        *|
|* Calls are logged to FAKE_NCCL_LOG.<rank>; FAKE_NCCL_ERROR=N makes          *|
|* ncclAllReduce return N.                                                    *|
\*===----------------------------------------------------------------------===*/

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char internal[128];
} ncclUniqueId;

enum { ncclSuccess = 0, ncclInvalidArgument = 4, ncclInvalidUsage = 5 };

static int rankOf(void) {
  const char *rank = getenv("OMPI_COMM_WORLD_RANK");
  return rank ? atoi(rank) : 0;
}

static void logLine(const char *format, long a, long b) {
  const char *path = getenv("FAKE_NCCL_LOG");
  char name[4096];
  if (!path)
    return;
  snprintf(name, sizeof(name), "%s.%d", path, rankOf());
  FILE *out = fopen(name, "a");
  if (!out)
    return;
  fprintf(out, format, a, b);
  fputc('\n', out);
  fclose(out);
}

/* Open MPI's functions and handles, from the process. */
static void *mpi(const char *name) { return dlsym(RTLD_DEFAULT, name); }
typedef int (*Bcast)(void *, int, void *, int, void *);
typedef int (*Allreduce)(const void *, void *, int, void *, void *, void *);
typedef int (*CommInt)(void *, int *);

static ncclUniqueId made;

int ncclGetUniqueId(ncclUniqueId *id) {
  for (size_t i = 0; i < sizeof(made.internal); ++i)
    made.internal[i] = (char)(rand() ^ getpid() ^ i);
  *id = made;
  logLine("ncclGetUniqueId", 0, 0);
  return ncclSuccess;
}

int ncclCommInitRank(void **comm, int nranks, ncclUniqueId id, int rank) {
  Bcast bcast = (Bcast)mpi("MPI_Bcast");
  CommInt size = (CommInt)mpi("MPI_Comm_size"),
          me = (CommInt)mpi("MPI_Comm_rank");
  void *world = mpi("ompi_mpi_comm_world"), *bytes = mpi("ompi_mpi_byte");
  int jobSize = 0, jobRank = -1;
  if (!bcast || !size || !me || !world || !bytes)
    return ncclInvalidUsage;
  size(world, &jobSize);
  me(world, &jobRank);
  ncclUniqueId root = id;
  bcast(&root, sizeof(root), bytes, 0, world);
  int sameId = memcmp(&root, &id, sizeof(id)) == 0 &&
               (rank != 0 || memcmp(&made, &id, sizeof(id)) == 0);
  logLine("ncclCommInitRank nranks %ld rank %ld", nranks, rank);
  logLine(sameId ? "id: rank 0's" : "id: DIFFERENT", 0, 0);
  if (!sameId || nranks != jobSize || rank != jobRank)
    return ncclInvalidArgument;
  *comm = &made;
  return ncclSuccess;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int datatype,
                  int op, void *comm, void *stream) {
  const char *error = getenv("FAKE_NCCL_ERROR");
  logLine("ncclAllReduce count %ld datatype %ld", (long)count, datatype);
  logLine("op %ld stream %ld", op, stream != NULL);
  if (error)
    return atoi(error);
  if (comm != &made || datatype != 7 || op != 0)
    return ncclInvalidArgument;
  Allreduce allreduce = (Allreduce)mpi("MPI_Allreduce");
  return allreduce(send, recv, (int)count, mpi("ompi_mpi_float"),
                   mpi("ompi_mpi_op_sum"), mpi("ompi_mpi_comm_world"))
             ? ncclInvalidUsage
             : ncclSuccess;
}

const char *ncclGetErrorString(int result) {
  return result == 2 ? "unhandled system error (fake)" : "fake NCCL error";
}
