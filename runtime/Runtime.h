//===- Runtime.h - Load and run compiled moa modules ------------*- C++ -*-===//
//
// A compiled module is a shared library made by moa-compile. It exports the
// manifest `moa_manifest` and, per entry point F, `moa_entry_F(void **)`.
// Module checks every call against the manifest (entry name, argument count,
// dtypes, ranks, static sizes) before it runs compiled code, and returns
// errors as messages. run() may be called from several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_RUNTIME_H
#define MOA_RUNTIME_RUNTIME_H

#include "runtime/MPIJob.h"
#include "runtime/Manifest.h"
#include "runtime/Tensor.h"
#include "runtime/ThreadTeam.h"

#include <memory>
#include <string>
#include <vector>

namespace moa::runtime {

/// What one call observed: per moa.route executed, the (token, slot) pairs
/// routed to each expert; and per argument, the address of the bytes the
/// compiled entry read (the caller's own, except for masks and for tied
/// arguments that are not donated, which it reads from copies).
struct RunStats {
  std::vector<std::vector<int64_t>> expertCounts;
  std::vector<const void *> argumentData;
};

class Module {
public:
  /// Loads a compiled module; returns null and sets `error` on failure.
  static std::unique_ptr<Module> load(const std::string &path,
                                      std::string &error);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  const Manifest &manifest() const { return manifest_; }
  /// The MPI job of a data-parallel module (the manifest's `ranks`): this
  /// process's rank and the job's size; rank 0 of 1 otherwise.
  const MPIJob &mpiJob() const { return mpiJob_; }
  const EntrySpec *findEntry(const std::string &name) const;

  /// Runs `entry` on `inputs`; fills `outputs` (and `stats` if given).
  /// Returns false and sets `error` if the call is rejected or a kernel fails.
  bool run(const std::string &entry, const std::vector<Tensor> &inputs,
           std::vector<Tensor> &outputs, std::string &error,
           RunStats *stats = nullptr) const;
  /// The same on tensors held elsewhere (no copies).
  bool run(const std::string &entry, const std::vector<const Tensor *> &inputs,
           std::vector<Tensor> &outputs, std::string &error,
           RunStats *stats = nullptr) const;

  /// The same, but the arguments that tied results are returned in (a
  /// decoder's caches, `tied=` in the manifest) are donated: the entry
  /// updates them in place and each tied result takes its argument's bytes,
  /// without a copy, leaving that input empty. run() instead copies those
  /// arguments first, so that it never writes an input. A donated tensor
  /// must be passed once; when the call fails it may have been written.
  bool runDonating(const std::string &entry,
                   const std::vector<Tensor *> &inputs,
                   std::vector<Tensor> &outputs, std::string &error,
                   RunStats *stats = nullptr) const;

  /// Checks `inputs` against `entry` without running anything.
  bool check(const EntrySpec &entry, const std::vector<const Tensor *> &inputs,
             std::string &error) const;

private:
  Module() = default;
  /// run() and runDonating(): `donated[i]`, where not null, is the mutable
  /// input i (inputs[i]) that a tied result may take.
  bool call(const std::string &entry, const std::vector<const Tensor *> &inputs,
            const std::vector<Tensor *> &donated, std::vector<Tensor> &outputs,
            std::string &error, RunStats *stats) const;

  std::string path_;
  void *handle_ = nullptr;
  Manifest manifest_;
  MPIJob mpiJob_;
  std::vector<void (*)(void **)> functions_; // parallel to manifest_.entries
  ThreadTeam threads_;
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_RUNTIME_H
