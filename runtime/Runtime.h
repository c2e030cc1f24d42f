//===- Runtime.h - Load and run compiled moa modules ------------*- C++ -*-===//
//
// A compiled module is a shared library made by moa-compile. It exports the
// manifest `moa_manifest` and, per entry point F, `moa_entry_F(void **)`; a
// GPU module also `moa_entry_F__moa_device`, the entry on device buffers.
// Module checks every call against the manifest (entry name, argument count,
// dtypes, ranks, static sizes) before it runs compiled code, and returns
// errors as messages. run() may be called from several threads at once.
//
// A GPU module takes host and device tensors (upload()). Given host tensors
// only, an entry copies them to the device, runs and returns host tensors.
// Given any device tensor, it runs on the tensors where they are (host ones
// are copied over once) and returns its results on the device, so that
// weights and state stay there from call to call; download() brings one
// back.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_RUNTIME_H
#define MOA_RUNTIME_RUNTIME_H

#include "runtime/Device.h"
#include "runtime/MPIJob.h"
#include "runtime/Manifest.h"
#include "runtime/Tensor.h"
#include "runtime/ThreadTeam.h"

#include <memory>
#include <string>
#include <vector>

namespace moa::runtime {

struct KernelContext;

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

  /// The GPU the module runs on; null for a CPU module.
  Device *device() const { return device_.get(); }
  /// A copy of the host tensor `host` on the module's device (a mask with
  /// its bytes made 0 or 1).
  bool upload(const Tensor &host, Tensor &device, std::string &error) const;
  /// A host copy of the device tensor `device`.
  bool download(const Tensor &device, Tensor &host, std::string &error) const;
  /// `tensor` moved to where the module computes: uploaded (its host bytes
  /// freed) by a GPU module, left as it is by a CPU module or if it is on
  /// the device already.
  bool toDevice(Tensor &tensor, std::string &error) const;
  /// `tensor` brought to the host if it is on the device.
  bool toHost(Tensor &tensor, std::string &error) const;

  /// Runs `entry` on `inputs`; fills `outputs` (and `stats` if given: a GPU
  /// entry copies its routing to the host only for it).
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
  /// call() on host tensors / with a device tensor among the inputs.
  bool callOnHost(const EntrySpec &entry, std::vector<const Tensor *> inputs,
                  const std::vector<Tensor *> &donated,
                  std::vector<Tensor> &outputs, std::string &error,
                  RunStats *stats) const;
  bool callOnDevice(const EntrySpec &entry, std::vector<const Tensor *> inputs,
                    std::vector<Tensor *> donated, std::vector<Tensor> &outputs,
                    std::string &error, RunStats *stats) const;
  /// Runs the compiled `entry` (its device form if `onDevice`) on `packed`
  /// arguments; false with `error` (and no outputs) if it failed.
  bool invoke(const EntrySpec &entry, bool onDevice,
              std::vector<void *> &packed, KernelContext &context,
              RunStats *stats, std::vector<Tensor> &outputs,
              std::string &error) const;
  /// The end of both: statistics, errors, and the tied results.
  bool finishCall(const EntrySpec &entry, KernelContext &context,
                  std::vector<const void *> argumentData,
                  const std::vector<Tensor *> &tiedArgs,
                  std::vector<Tensor> &outputs, std::string &error,
                  RunStats *stats) const;
  /// Finds the device entries of a GPU module (none of a CPU module).
  bool loadDeviceEntries(const std::string &file, std::string &error);
  bool allocateOnDevice(DType dtype, const std::vector<int64_t> &shape,
                        Tensor &tensor, std::string &error) const;

  std::string path_;
  void *handle_ = nullptr;
  Manifest manifest_;
  MPIJob mpiJob_;
  std::vector<void (*)(void **)> functions_; // parallel to manifest_.entries
  std::vector<void (*)(void **)> deviceFunctions_; // the same, of a GPU module
  std::shared_ptr<Device> device_;
  ThreadTeam threads_;
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_RUNTIME_H
