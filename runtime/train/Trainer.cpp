//===- Trainer.cpp - Running a compiled train step ------------------------===//

#include "runtime/train/Trainer.h"
#include "runtime/Numbers.h"
#include "runtime/SafeTensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unistd.h>

using namespace moa;
using namespace moa::runtime;
using namespace moa::train;

namespace {

int fail(const std::string &message) {
  std::fprintf(stderr, "moa-train: %s\n", message.c_str());
  return 1;
}

bool initialise(Tensor &t, const std::string &init, std::mt19937_64 &rng,
                std::string &error) {
  const int64_t n = t.numElements();
  float *data = t.as<float>();
  if (init == "ones" || init == "zeros") {
    std::fill(data, data + n, init == "ones" ? 1.0f : 0.0f);
    return true;
  }
  if (init.rfind("normal:", 0) == 0) {
    double sd = 0;
    if (!runtime::parseFinite(init.substr(7), sd) || !(sd > 0)) {
      error = "bad init '" + init + "'";
      return false;
    }
    std::normal_distribution<double> normal(0.0, sd);
    for (int64_t i = 0; i < n; ++i)
      data[i] = float(normal(rng));
    return true;
  }
  // fan_in:<n> names the fan-in where the shape does not show it (a
  // multi-head weight [d, H, h] has fan-in d, its output weight H*h).
  const auto &shape = t.shape();
  int64_t fanIn = shape.size() >= 2 ? shape[shape.size() - 2] : shape[0];
  if (init.rfind("fan_in:", 0) == 0) {
    if (!runtime::parseInteger(init.substr(7), fanIn) || fanIn < 1) {
      error = "bad init '" + init + "'";
      return false;
    }
  } else if (!init.empty() && init != "fan_in") {
    error = "unknown init '" + init +
            "' (normal:<std>, ones, zeros, fan_in, fan_in:<n>)";
    return false;
  }
  const double bound = 1.0 / std::sqrt(double(std::max<int64_t>(fanIn, 1)));
  std::uniform_real_distribution<double> uniform(-bound, bound);
  for (int64_t i = 0; i < n; ++i)
    data[i] = float(uniform(rng));
  return true;
}

double scalar(const Tensor &t) { return t.at(0); }

/// Correct argmax predictions and labelled tokens of a [B, T, V] logits.
std::pair<int64_t, int64_t> accuracy(const Tensor &logits,
                                     const Tensor &targets) {
  const int64_t rows = targets.numElements(), vocab = logits.shape().back();
  int64_t correct = 0, labelled = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int32_t target = targets.as<int32_t>()[r];
    if (target < 0)
      continue;
    const float *row = logits.as<float>() + r * vocab;
    correct += std::max_element(row, row + vocab) - row == target;
    ++labelled;
  }
  return {correct, labelled};
}

std::vector<double> usageFractions(const RunStats &stats) {
  std::vector<double> fractions;
  double total = 0;
  for (const auto &counts : stats.expertCounts) {
    fractions.resize(std::max(fractions.size(), counts.size()), 0.0);
    for (size_t e = 0; e < counts.size(); ++e) {
      fractions[e] += double(counts[e]);
      total += double(counts[e]);
    }
  }
  for (double &f : fractions)
    f = total > 0 ? f / total : 0;
  return fractions;
}

double entropyBits(const std::vector<double> &p) {
  double h = 0;
  for (double v : p)
    if (v > 0)
      h -= v * std::log2(v);
  return h;
}

/// History tensors stored in checkpoints so that a resumed run's report is
/// the whole run's.
std::vector<NamedTensor> historyTensors(const train::TrainingHistory &h) {
  const int64_t records = int64_t(h.steps.size());
  const int64_t experts =
      h.headUsage.empty() ? 0 : int64_t(h.headUsage.front().size());
  std::vector<NamedTensor> out;
  out.push_back({"history.step", Tensor(DType::I32, {records})});
  out.push_back({"history.loss", Tensor(DType::F32, {records})});
  out.push_back({"history.aux", Tensor(DType::F32, {records})});
  out.push_back({"history.usage", Tensor(DType::F32, {records, experts})});
  for (int64_t r = 0; r < records; ++r) {
    out[0].tensor.as<int32_t>()[r] = int32_t(h.steps[r]);
    out[1].tensor.set(r, h.loss[r]);
    out[2].tensor.set(r, h.auxLoss[r]);
    for (int64_t e = 0; e < experts; ++e)
      out[3].tensor.set(r * experts + e, h.headUsage[r][e]);
  }
  return out;
}

/// The history of a checkpoint that has one; false with `why` when its
/// tensors do not fit together (a truncated or edited file is not read past
/// its end).
bool restoreHistory(const std::map<std::string, const Tensor *> &byName,
                    train::TrainingHistory &h, std::string &why) {
  auto find = [&](const char *name) -> const Tensor * {
    auto it = byName.find(name);
    return it == byName.end() ? nullptr : it->second;
  };
  const Tensor *steps = find("history.step"), *loss = find("history.loss"),
               *aux = find("history.aux"), *usage = find("history.usage");
  if (!steps && !loss && !aux && !usage)
    return true; // written without a history
  if (!steps || !loss || !aux || !usage || steps->dtype() != DType::I32 ||
      steps->rank() != 1) {
    why = "its history.* tensors are incomplete or not of their types";
    return false;
  }
  const int64_t records = steps->numElements();
  const int64_t experts = usage->rank() == 2 ? usage->shape()[1] : -1;
  auto isF32 = [](const Tensor *t, std::vector<int64_t> shape) {
    return t->dtype() == DType::F32 && t->shape() == shape;
  };
  if (experts < 0 || !isF32(loss, {records}) || !isF32(aux, {records}) ||
      !isF32(usage, {records, experts})) {
    why = "its history.* tensors are not f32 with " + std::to_string(records) +
          " records each";
    return false;
  }
  for (int64_t r = 0; r < records; ++r) {
    h.steps.push_back(steps->as<int32_t>()[r]);
    h.loss.push_back(loss->at(r));
    h.auxLoss.push_back(aux->at(r));
    std::vector<double> u(experts);
    for (int64_t e = 0; e < experts; ++e)
      u[e] = usage->at(r * experts + e);
    h.headUsage.push_back(u);
  }
  return true;
}

} // namespace

bool train::layoutOf(const EntrySpec &entry, StepLayout &layout,
                     std::string &error) {
  const auto &args = entry.arguments;
  size_t i = 0;
  for (; i < args.size() && args[i].name.rfind("p.", 0) == 0; ++i)
    layout.params.push_back(args[i].name.substr(2));
  const size_t n = layout.params.size();
  if (n == 0 || args.size() < 3 * n + 1) {
    error = "entry '" + entry.name +
            "' is not a training step (no arguments named p.<param>)";
    return false;
  }
  layout.firstM = n;
  layout.firstV = 2 * n;
  layout.stepArg = 3 * n;
  for (size_t j = 0; j < n; ++j)
    if (args[n + j].name != "m." + layout.params[j] ||
        args[2 * n + j].name != "v." + layout.params[j]) {
      error = "entry '" + entry.name + "': moments of '" + layout.params[j] +
              "' are not where moa-generate-train-step puts them";
      return false;
    }
  if (args[3 * n].name != "step") {
    error = "entry '" + entry.name + "': argument " + std::to_string(3 * n) +
            " must be the step number";
    return false;
  }
  for (size_t j = 3 * n + 1; j < args.size(); ++j)
    layout.dataArgs[args[j].name] = j;
  for (const char *name : {"tokens", "targets"})
    if (!layout.dataArgs.count(name)) {
      error = "entry '" + entry.name + "' has no data argument named '" + name +
              "'";
      return false;
    }
  for (size_t r = 0; r < entry.results.size(); ++r)
    if (!entry.results[r].name.empty())
      layout.results.emplace(entry.results[r].name, r);
  if (!layout.results.count("grad_norm") ||
      !layout.results.count("p." + layout.params[0])) {
    error = "entry '" + entry.name + "' has no grad_norm or p.* results";
    return false;
  }
  layout.firstNewParam = layout.results.at("p." + layout.params[0]);
  return true;
}

/// Initial value of a parameter from its moa.init: normal:<std>, ones,
/// zeros, or fan_in (uniform in +-1/sqrt(fan_in), the default; fan_in is
/// the next-to-last size) or fan_in:<n> (uniform in +-1/sqrt(n)).

bool Trainer::initialise(std::string &error) {
  const size_t n = layout.params.size();
  std::mt19937_64 rng = streamRng(options.seed, 0, 0);
  for (size_t i = 0; i < 3 * n; ++i) {
    const TensorSpec &spec = entry.arguments[i];
    Tensor t(DType::F32, spec.shape);
    if (i < n) {
      if (!::initialise(t, spec.init, rng, error)) {
        error = "parameter '" + layout.params[i] + "': " + error;
        return false;
      }
    } else {
      std::memset(t.data(), 0, t.byteSize());
    }
    state.emplace_back();
    if (!setState(i, std::move(t), error))
      return false;
  }
  return true;
}

bool Trainer::setState(size_t i, Tensor host, std::string &error) {
  state[i] = std::move(host);
  return module.toDevice(state[i], error);
}

bool Trainer::save(const std::string &path, std::string &error) const {
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < state.size(); ++i) {
    Tensor copy(state[i].dtype(), state[i].shape());
    if (state[i].isOnDevice()) {
      if (!module.download(state[i], copy, error))
        return false;
    } else {
      std::memcpy(copy.data(), state[i].data(), state[i].byteSize());
    }
    tensors.push_back({entry.arguments[i].name, std::move(copy)});
  }
  for (NamedTensor &t : historyTensors(history))
    tensors.push_back(std::move(t));
  std::map<std::string, std::string> metadata = {
      {"format", "moa-train 1"},      {"entry", entry.name},
      {"step", std::to_string(step)}, {"seed", std::to_string(options.seed)},
      {"task", options.task},         {"data", dataSignature()}};
  return writeSafetensors(path, tensors, metadata, error);
}

bool Trainer::resume(const std::string &path, std::string &error) {
  std::map<std::string, std::string> metadata;
  auto tensors = readSafetensors(path, metadata, error);
  if (!tensors)
    return false;
  if (metadata["format"] != "moa-train 1" || metadata["entry"] != entry.name) {
    error = "checkpoint '" + path + "' was not written by moa-train for '" +
            entry.name + "'";
    return false;
  }
  if (metadata["seed"] != std::to_string(options.seed) ||
      metadata["task"] != options.task) {
    error = "checkpoint '" + path + "' is of seed " + metadata["seed"] +
            " and task " + metadata["task"] +
            "; resume with the same --seed and --task";
    return false;
  }
  if (metadata["data"] != dataSignature()) {
    error = "checkpoint '" + path + "' was trained on " + metadata["data"] +
            ", not " + dataSignature() +
            "; resume with the same --batch, --length and data";
    return false;
  }
  std::map<std::string, const Tensor *> byName;
  for (const NamedTensor &t : *tensors)
    byName[t.name] = &t.tensor;
  for (size_t i = 0; i < state.size(); ++i) {
    const std::string &name = entry.arguments[i].name;
    auto it = byName.find(name);
    if (it == byName.end()) {
      error = "checkpoint '" + path + "' has no tensor '" + name + "'";
      return false;
    }
    if (it->second->dtype() != DType::F32 ||
        it->second->shape() != state[i].shape()) {
      error = "checkpoint '" + path + "': tensor '" + name + "' is " +
              dtypeName(it->second->dtype()) +
              formatShape(it->second->shape()) + ", the model needs f32" +
              formatShape(state[i].shape());
      return false;
    }
    Tensor value(DType::F32, state[i].shape());
    std::memcpy(value.data(), it->second->data(), value.byteSize());
    if (!setState(i, std::move(value), error))
      return false;
  }
  int64_t saved = 0;
  if (!runtime::parseInteger(metadata["step"], saved) || saved < 0) {
    error = "checkpoint '" + path + "' has no valid step number";
    return false;
  }
  std::string why;
  if (!restoreHistory(byName, history, why)) {
    error = "checkpoint '" + path + "': " + why;
    return false;
  }
  step = saved;
  return true;
}

void Trainer::makeBatch(const Dataset &source, uint64_t stream,
                        int64_t batchStep, bool ownRows) {
  const std::vector<int64_t> shape = {options.batch, options.length};
  tokens = Tensor(DType::I32, shape);
  targets = Tensor(DType::I32, shape);
  positions = Tensor(DType::I32, shape);
  std::mt19937_64 rng = streamRng(options.seed, stream, batchStep);
  source.fill(rng, tokens, targets);
  for (int64_t b = 0; b < options.batch; ++b)
    for (int64_t j = 0; j < options.length; ++j)
      positions.as<int32_t>()[b * options.length + j] = int32_t(j);
  const MPIJob &job = module.mpiJob();
  if (!ownRows || job.size == 1)
    return;
  // Every rank draws the same global batch and keeps its rows.
  const int64_t rows = options.batch / job.size;
  for (Tensor *t : {&tokens, &targets, &positions}) {
    Tensor own(DType::I32, {rows, options.length});
    std::memcpy(own.data(), t->as<int32_t>() + job.rank * rows * options.length,
                own.byteSize());
    *t = std::move(own);
  }
}

bool Trainer::call(std::vector<Tensor> &results, RunStats *stats,
                   std::string &error) {
  std::vector<Tensor *> inputs;
  for (Tensor &t : state)
    inputs.push_back(&t);
  inputs.push_back(&stepTensor);
  inputs.resize(entry.arguments.size(), nullptr);
  for (const auto &[name, index] : layout.dataArgs) {
    inputs[index] = dataFor(name);
    if (!inputs[index]) {
      error = "unknown data argument '" + name +
              "' (moa-train provides tokens, positions and targets)";
      return false;
    }
  }
  // The state is donated: the step updates it in place (moa.tied).
  return module.runDonating(entry.name, inputs, results, error, stats);
}

/// Held-out accuracy and cross-entropy: the loss function's forward entry
/// on batches of a stream training never sees.
Evaluation Trainer::evaluate(std::string &error) {
  const size_t n = layout.params.size();
  const std::string forward = options.entry;
  const EntrySpec *spec = module.findEntry(forward);
  if (!spec || options.evalBatches == 0)
    return {};
  int64_t correct = 0, labelled = 0;
  double crossEntropy = 0;
  bool hasCrossEntropy = false;
  for (int64_t i = 0; i < options.evalBatches; ++i) {
    makeBatch(heldOut, /*stream=*/2, i);
    // The loss function's own argument order: data arguments by name, the
    // parameters (unnamed there) in the order the training step has them.
    std::vector<const Tensor *> inputs;
    size_t nextParam = 0;
    for (const TensorSpec &arg : spec->arguments) {
      const Tensor *data = dataFor(arg.name);
      inputs.push_back(data            ? data
                       : nextParam < n ? &state[nextParam++]
                                       : nullptr);
    }
    if (nextParam != n) {
      error = "the arguments of '" + forward +
              "' do not match the parameters of its training step";
      return {};
    }
    std::vector<Tensor> results;
    if (!module.run(forward, inputs, results, error))
      return {};
    for (size_t r = 0; r < spec->results.size(); ++r) {
      const std::string &name = spec->results[r].name;
      if ((name == "logits" || name == "ce") &&
          !module.toHost(results[r], error))
        return {};
      if (spec->results[r].name == "logits") {
        auto [c, l] = accuracy(results[r], targets);
        correct += c;
        labelled += l;
      } else if (spec->results[r].name == "ce") {
        crossEntropy += scalar(results[r]); // a mean over the batch
        hasCrossEntropy = true;
      }
    }
  }
  Evaluation evaluation;
  if (labelled)
    evaluation.accuracy = double(correct) / double(labelled);
  if (hasCrossEntropy)
    evaluation.crossEntropy = crossEntropy / double(options.evalBatches);
  return evaluation;
}

bool Trainer::printEvaluation(std::string &error) {
  Evaluation evaluation = evaluate(error);
  if (!error.empty())
    return false;
  std::printf("held-out at step %lld:", (long long)step);
  if (evaluation.crossEntropy >= 0)
    std::printf(" cross-entropy %.4f nats, %.4f bits per token",
                evaluation.crossEntropy, evaluation.crossEntropy / M_LN2);
  if (evaluation.accuracy >= 0)
    std::printf(" | accuracy %.4f", evaluation.accuracy);
  std::printf("\n");
  std::fflush(stdout);
  return true;
}

int Trainer::run() {
  const size_t n = layout.params.size();
  const bool tty = isatty(fileno(stdout));
  auto resultIndex = [&](const char *name) -> int64_t {
    auto it = layout.results.find(name);
    return it == layout.results.end() ? -1 : int64_t(it->second);
  };
  const int64_t lossAt = 0, ceAt = resultIndex("ce"), lbAt = resultIndex("lb"),
                zAt = resultIndex("z"), logitsAt = resultIndex("logits");
  std::string error;
  if (const MPIJob &job = module.mpiJob(); options.batch % job.size != 0)
    return fail("--batch " + std::to_string(options.batch) +
                " does not split evenly over the " + std::to_string(job.size) +
                " ranks of the job");
  auto start = std::chrono::steady_clock::now();
  int64_t tokensSeen = 0;
  double lastLoss = NAN;
  const int64_t first = step;
  while (step < options.steps) {
    makeBatch(data, /*stream=*/1, step, /*ownRows=*/true);
    stepTensor.set(0, double(step + 1));
    // What a logged step reports comes back from the device then only.
    const bool record =
        (step + 1) % options.logEvery == 0 || step + 1 == options.steps;
    std::vector<Tensor> results;
    RunStats stats;
    if (!call(results, record ? &stats : nullptr, error))
      return fail("step " + std::to_string(step + 1) + ": " + error);
    for (size_t i = 0; i < 3 * n; ++i)
      state[i] = std::move(results[layout.firstNewParam + i]);
    ++step;
    tokensSeen += options.batch * options.length;
    if (!module.toHost(results[lossAt], error))
      return fail("step " + std::to_string(step) + ": " + error);
    lastLoss = scalar(results[lossAt]);
    if (record && leader())
      for (int64_t at : {ceAt, lbAt, zAt, logitsAt})
        if (at >= 0 && !module.toHost(results[at], error))
          return fail("step " + std::to_string(step) + ": " + error);
    int64_t correct = 0, labelled = 0;
    if (record && logitsAt >= 0 && leader()) // of the logged step's batch
      std::tie(correct, labelled) = accuracy(results[logitsAt], targets);
    if (!std::isfinite(lastLoss))
      return fail("step " + std::to_string(step) + ": the loss is " +
                  std::to_string(lastLoss));
    if (record && leader()) {
      std::vector<double> usage = usageFractions(stats);
      const double aux = (lbAt >= 0 ? 0.01 * scalar(results[lbAt]) : 0) +
                         (zAt >= 0 ? 0.001 * scalar(results[zAt]) : 0);
      history.steps.push_back(step);
      history.loss.push_back(ceAt >= 0 ? scalar(results[ceAt]) : lastLoss);
      history.auxLoss.push_back(aux);
      history.headUsage.push_back(usage);
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      const int width = 20;
      const int filled = int(width * step / options.steps);
      std::printf("%s[%s%s] step %lld/%lld | loss %.4f", tty ? "\r" : "",
                  std::string(filled, '#').c_str(),
                  std::string(width - filled, '.').c_str(), (long long)step,
                  (long long)options.steps, lastLoss);
      if (ceAt >= 0)
        std::printf(" | ce %.4f", scalar(results[ceAt]));
      if (lbAt >= 0)
        std::printf(" | lb %.3f", scalar(results[lbAt]));
      if (zAt >= 0)
        std::printf(" | z %.3f", scalar(results[zAt]));
      if (labelled)
        std::printf(" | acc %.3f", double(correct) / double(labelled));
      std::printf(" | %.0f tok/s",
                  double(tokensSeen) / std::max(seconds, 1e-9));
      if (!usage.empty()) // a model without routing has no head usage
        std::printf(" | heads %.2f/%.2f bits", entropyBits(usage),
                    std::log2(double(usage.size())));
      std::printf("%s", tty ? "   " : "\n");
      std::fflush(stdout);
    }
    if (!leader())
      continue;
    if (!options.checkpoint.empty() && options.saveEvery > 0 &&
        step % options.saveEvery == 0 && !save(options.checkpoint, error))
      return fail(error);
    if (options.evalEvery > 0 && step % options.evalEvery == 0 &&
        !printEvaluation(error))
      return fail("evaluation: " + error);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (tty && step > first && leader())
    std::printf("\n");
  return leader() ? finish(first, seconds, lastLoss) : 0;
}

int Trainer::finish(int64_t first, double seconds, double lastLoss) {
  std::string error;
  if (step == first) {
    std::printf("nothing to train: at step %lld of --steps %lld\n",
                (long long)step, (long long)options.steps);
  }
  if (step > first)
    std::printf("trained steps %lld..%lld in %.2f s (%.1f ms/step), final loss "
                "%.6f\n",
                (long long)first + 1, (long long)step, seconds,
                1e3 * seconds / std::max<int64_t>(step - first, 1), lastLoss);
  if (!options.checkpoint.empty()) {
    if (!save(options.checkpoint, error))
      return fail(error);
    std::printf("checkpoint: %s (step %lld)\n", options.checkpoint.c_str(),
                (long long)step);
  }
  if (!options.report.empty()) {
    history.title =
        "moa-train: " + entry.name + " on the " + options.task + " task";
    if (!train::writeTrainingSvg(options.report, history, error))
      return fail(error);
    std::printf("report: %s\n", options.report.c_str());
  }
  Evaluation evaluation = evaluate(error);
  if (!error.empty())
    return fail("evaluation: " + error);
  const double heldOut = evaluation.accuracy;
  if (heldOut >= 0)
    std::printf("held-out accuracy %.4f on %lld batches\n", heldOut,
                (long long)options.evalBatches);
  if (evaluation.crossEntropy >= 0)
    std::printf("held-out cross-entropy %.4f nats, %.4f bits per token\n",
                evaluation.crossEntropy, evaluation.crossEntropy / M_LN2);
  if (options.minAccuracy >= 0 && heldOut < 0) {
    std::fprintf(stderr,
                 "moa-train: --min-accuracy needs an evaluation: "
                 "--eval-batches > 0 and a 'logits' result of '%s'\n",
                 options.entry.c_str());
    return 3;
  }
  if (options.minAccuracy >= 0 && !(heldOut >= options.minAccuracy)) {
    std::fprintf(stderr,
                 "moa-train: held-out accuracy %.4f is below --min-accuracy "
                 "%.4f\n",
                 heldOut, options.minAccuracy);
    return 3;
  }
  return 0;
}
