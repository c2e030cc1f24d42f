//===- moa-train.cpp - Train a compiled moa model -------------------------===//
//
// The command line over libMoATraining (runtime/train): runs the
// training-step entry that moa-generate-train-step added to a compiled module
// (`<loss>_train_step`: forward, backward and AdamW in one call) on a
// synthetic copy task, a character-level text corpus or a token stream, with
// progress, bit-exact checkpoints and an SVG report.
//
//===----------------------------------------------------------------------===//

#include "runtime/AtomicFile.h"
#include "runtime/Numbers.h"
#include "runtime/Runtime.h"
#include "runtime/train/Trainer.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace moa;
using namespace moa::runtime;
using namespace moa::train;

namespace {

const char *kUsage =
    "usage: moa-train MODULE [options]\n"
    "  Trains the model of MODULE (compiled with moa-compile --pre-pipeline=\n"
    "  'moa-generate-train-step{...}') by calling its <loss>_train_step "
    "entry.\n"
    "  The entry's data arguments are named tokens, positions and targets\n"
    "  (i32 [B, T]); a result named logits ([B, T, V]) gives the accuracy.\n"
    "  A module made data parallel (--pre-pipeline='...,moa-data-parallel{\n"
    "  axis-size=N}') runs as `mpirun -np N moa-train MODULE ...`: --batch is\n"
    "  the global batch, each rank trains on its B/N rows, rank 0 reports.\n"
    "options:\n"
    "  --entry NAME        the loss function (default loss)\n"
    "  --task copy|text|tokens\n"
    "                      copy: random symbols, a separator, the same\n"
    "                      symbols again (the second half is predicted);\n"
    "                      text: next character of --text FILE; tokens: next\n"
    "                      id of --text FILE.npy, a 1-D i32 array (default\n"
    "                      copy)\n"
    "  --text FILE         the corpus (text) or token ids (.npy) to train on\n"
    "  --held-out FILE     a text corpus to evaluate on instead of unused\n"
    "                      windows of --text (its characters numbered as\n"
    "                      --text numbers them; --task text)\n"
    "  --symbols N         content symbols of the copy task (default 12)\n"
    "  --steps N           train until step N (default 300)\n"
    "  --batch B           sequences per step (default 16)\n"
    "  --length T          tokens per sequence (default 16)\n"
    "  --seed S            initialisation and data seed (default 1)\n"
    "  --log-every N       a progress record every N steps (default 10)\n"
    "  --checkpoint FILE   save a safetensors checkpoint at the end (and\n"
    "                      every --save-every steps)\n"
    "  --save-every N      checkpoint period in steps (default: end only)\n"
    "  --resume FILE       continue from a checkpoint\n"
    "  --report FILE.svg   loss curve and head utilisation at the end\n"
    "  --eval-batches N    held-out batches for the final accuracy (default "
    "8)\n"
    "  --eval-every N      evaluate on the held-out data every N steps\n"
    "                      (cross-entropy in bits per token, accuracy)\n"
    "  --min-accuracy X    exit with status 3 if the final held-out accuracy\n"
    "                      is below X\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moa-train: %s\n", message.c_str());
  return 1;
}

} // namespace

int run(int argc, char **argv);

int main(int argc, char **argv) {
  int code;
  try {
    code = run(argc, argv);
  } catch (const std::bad_alloc &) {
    code = fail("out of memory (are --batch and --length sensible?)");
  }
  // A failed rank of a data-parallel job ends the job: the other ranks
  // would wait for it in their next all-reduce.
  if (code != 0)
    abortMPIJob(code);
  return code;
}

int run(int argc, char **argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      return i + 1 < argc ? argv[++i] : std::string();
    };
    auto number = [&](int64_t &out, int64_t minimum) {
      std::string text = value();
      return runtime::parseInteger(text, out) && out >= minimum;
    };
    bool ok = true;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--entry")
      options.entry = value();
    else if (arg == "--task")
      options.task = value();
    else if (arg == "--text")
      options.text = value();
    else if (arg == "--held-out")
      options.heldOut = value();
    else if (arg == "--checkpoint")
      options.checkpoint = value();
    else if (arg == "--resume")
      options.resume = value();
    else if (arg == "--report")
      options.report = value();
    else if (arg == "--symbols")
      ok = number(options.symbols, 1);
    else if (arg == "--steps")
      ok = number(options.steps, 1);
    else if (arg == "--batch")
      ok = number(options.batch, 1);
    else if (arg == "--length")
      ok = number(options.length, 2);
    else if (arg == "--seed")
      ok = number(options.seed, 0);
    else if (arg == "--log-every")
      ok = number(options.logEvery, 1);
    else if (arg == "--save-every")
      ok = number(options.saveEvery, 1);
    else if (arg == "--eval-batches")
      ok = number(options.evalBatches, 0);
    else if (arg == "--eval-every")
      ok = number(options.evalEvery, 1);
    else if (arg == "--min-accuracy")
      ok = runtime::parseFinite(value(), options.minAccuracy);
    else if (!arg.empty() && arg[0] == '-')
      return fail("unknown option '" + arg + "'\n" + kUsage);
    else
      positional.push_back(arg);
    if (!ok)
      return fail("bad value for " + arg);
  }
  if (positional.size() != 1)
    return fail(std::string("expected one MODULE\n") + kUsage);
  options.module = positional[0];
  // Checked before training, so that a bad path costs no compute; the write
  // itself checks again.
  for (const std::string *output : {&options.checkpoint, &options.report})
    if (!output->empty())
      if (std::string why = runtime::outputFileProblem(*output); !why.empty())
        return fail(why);

  std::unique_ptr<Dataset> data;
  std::unique_ptr<StreamTask> heldOut;
  std::string error;
  if (options.task == "copy") {
    if (!options.heldOut.empty())
      return fail("--held-out takes a text corpus (--task text)");
    data = std::make_unique<CopyTask>(options.symbols);
  } else if (options.task == "text" || options.task == "tokens") {
    if (options.text.empty())
      return fail(
          "--task=" + options.task + " needs --text FILE" +
          (options.task == "tokens" ? " (an i32 .npy of token ids)" : ""));
    auto stream = options.task == "text"
                      ? StreamTask::fromText(options.text, error)
                      : StreamTask::fromNpy(options.text, error);
    if (!stream)
      return fail(error);
    if (stream->size() < size_t(options.length) + 1)
      return fail("'" + options.text +
                  "' holds fewer than --length + 1 tokens");
    if (!options.heldOut.empty()) {
      if (options.task != "text")
        return fail("--held-out takes a text corpus (--task text)");
      heldOut = StreamTask::fromText(options.heldOut, error, stream.get());
      if (!heldOut)
        return fail(error);
      if (heldOut->size() < size_t(options.length) + 1)
        return fail("'" + options.heldOut +
                    "' holds fewer than --length + 1 tokens");
    }
    data = std::move(stream);
  } else {
    return fail("unknown --task '" + options.task + "' (copy, text or tokens)");
  }

  auto module = Module::load(options.module, error);
  if (!module)
    return fail(error);
  const std::string stepEntry = options.entry + "_train_step";
  const EntrySpec *entry = module->findEntry(stepEntry);
  if (!entry)
    return fail("module '" + options.module + "' has no entry '" + stepEntry +
                "' (compile it with --pre-pipeline="
                "'moa-generate-train-step{function=" +
                options.entry + "}')");
  StepLayout layout;
  if (!layoutOf(*entry, layout, error))
    return fail(error);
  auto logits = layout.results.find("logits");
  if (logits != layout.results.end()) {
    int64_t vocab = entry->results[logits->second].shape.back();
    if (vocab >= 0 && data->vocabulary() > vocab)
      return fail("the data has " + std::to_string(data->vocabulary()) +
                  " token ids, the model's vocabulary is " +
                  std::to_string(vocab));
  }
  Trainer trainer(options, *module, *entry, std::move(layout), *data,
                  heldOut.get());
  if (!trainer.initialise(error))
    return fail(error);
  if (!options.resume.empty() && !trainer.resume(options.resume, error))
    return fail(error);
  return trainer.run();
}
