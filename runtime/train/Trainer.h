//===- Trainer.h - Running a compiled train step ----------------*- C++ -*-===//
//
// Drives the training-step entry that moa-generate-train-step adds to a
// compiled module (`<loss>_train_step`: forward, backward and AdamW in one
// call): initialises the parameters from the manifest's `moa.init`, feeds
// batches from a Dataset, prints progress, keeps the loss and head-usage
// history, and writes and resumes safetensors checkpoints bit-exactly.
// moa-train is a command line over it.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_TRAIN_TRAINER_H
#define MOA_RUNTIME_TRAIN_TRAINER_H

#include "runtime/Runtime.h"
#include "runtime/train/Datasets.h"
#include "runtime/train/TrainingPlot.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace moa::train {

using moa::EntrySpec;
using runtime::Module;
using runtime::RunStats;

/// What a training run does (moa-train's command line).
struct Options {
  std::string module, entry = "loss", task = "copy", text, heldOut, checkpoint,
                      resume, report;
  int64_t symbols = 12, steps = 300, batch = 16, length = 16, seed = 1,
          logEvery = 10, saveEvery = 0, evalBatches = 8, evalEvery = 0;
  double minAccuracy = -1;
};

/// Where the train-step entry keeps what (indices into its arguments and
/// results, from the manifest's names).
struct StepLayout {
  std::vector<std::string> params; // parameter names, in argument order
  size_t firstParam = 0, firstM = 0, firstV = 0, stepArg = 0;
  std::map<std::string, size_t> dataArgs; // tokens, positions, targets
  std::map<std::string, size_t> results;  // name -> result index
  size_t firstNewParam = 0;               // p.* results start here
};

/// Reads the layout of a train-step entry from its argument and result
/// names; false with `error` if it is not one.
bool layoutOf(const EntrySpec &entry, StepLayout &layout, std::string &error);

/// A held-out evaluation: accuracy and mean cross-entropy (nats) per
/// labelled token, each -1 where the loss function has no such result.
struct Evaluation {
  double accuracy = -1, crossEntropy = -1;
};

class Trainer {
public:
  /// Evaluations draw from `heldOut` (a corpus training never reads), or
  /// from a stream of `data` that training does not use.
  Trainer(const Options &options, const Module &module, const EntrySpec &entry,
          StepLayout layout, const Dataset &data,
          const Dataset *heldOut = nullptr)
      : options(options), module(module), entry(entry),
        layout(std::move(layout)), data(data),
        heldOut(heldOut ? *heldOut : data) {}

  bool initialise(std::string &error);
  bool resume(const std::string &path, std::string &error);
  bool save(const std::string &path, std::string &error) const;
  int run();
  /// What the data of a step depends on besides seed and task: a resumed
  /// run must see the same batches.
  std::string dataSignature() const {
    return "batch " + std::to_string(options.batch) + " length " +
           std::to_string(options.length) + " " + data.describe();
  }

private:
  /// The inputs of one call: state, step number and the batch of `step`
  /// from data stream `stream` of `source`; with `ownRows`, only this
  /// rank's rows of it (a data-parallel module's share of the batch).
  void makeBatch(const Dataset &source, uint64_t stream, int64_t step,
                 bool ownRows = false);
  /// Rank 0 of a data-parallel job (or the only process) reports, saves
  /// and evaluates; the others only train.
  bool leader() const { return module.mpiJob().rank == 0; }
  /// The rest of run() once the steps are taken, on the leader.
  int finish(int64_t first, double seconds, double lastLoss);
  /// One step; `stats`, where given, gets the head usage.
  bool call(std::vector<Tensor> &results, RunStats *stats, std::string &error);
  /// State tensor i set to `host`: uploaded once on a GPU module, where
  /// the state then stays from step to step.
  bool setState(size_t i, Tensor host, std::string &error);

  Evaluation evaluate(std::string &error);
  /// "held-out at step N: ..." (--eval-every).
  bool printEvaluation(std::string &error);
  /// The batch tensor a data argument named `name` takes, or null.
  const Tensor *dataFor(const std::string &name) const {
    return name == "tokens"      ? &tokens
           : name == "targets"   ? &targets
           : name == "positions" ? &positions
                                 : nullptr;
  }
  Tensor *dataFor(const std::string &name) {
    return const_cast<Tensor *>(std::as_const(*this).dataFor(name));
  }

  const Options &options;
  const Module &module;
  const EntrySpec &entry;
  StepLayout layout;
  const Dataset &data;
  const Dataset &heldOut;
  /// Params, m, v (argument order): on the device of a GPU module.
  std::vector<Tensor> state;
  Tensor stepTensor{DType::F32, {}};
  Tensor tokens, positions, targets;
  int64_t step = 0; // steps taken
  train::TrainingHistory history;
};

} // namespace moa::train

#endif // MOA_RUNTIME_TRAIN_TRAINER_H
