//===- moa-run.cpp - Run an entry of a compiled moa module ----------------===//

#include "runtime/AtomicFile.h"
#include "runtime/Npy.h"
#include "runtime/Numbers.h"
#include "runtime/Runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace moa;
using namespace moa::runtime;

namespace {

const char *kUsage =
    "usage: moa-run MODULE ENTRY [INPUT.npy ...] [options]\n"
    "  Runs ENTRY of MODULE (made by moa-compile) on the inputs, in argument\n"
    "  order, and prints the result shapes and the head usage of each MoA\n"
    "  router.\n"
    "options:\n"
    "  -o DIR        write results as DIR/out0.npy, DIR/out1.npy, ...\n"
    "  --random      make random inputs (uniform in [-0.5, 0.5]; masks false)\n"
    "  --seed N      seed for --random (default 0)\n"
    "  --dims A,B..  sizes of the dynamic dimensions of each random input,\n"
    "                in order (e.g. --dims 4,256 for x of shape [?, ?, 256])\n"
    "  --repeat N    run N times (after one untimed warm-up run when N > 1)\n"
    "                and print the median time\n"
    "  --device      (a GPU module) keep the inputs on the device across the\n"
    "                calls and print two medians: the call on device tensors\n"
    "                (kernels, launches and the one wait) and the whole call\n"
    "                from host tensors (copies both ways included)\n"
    "  --list        list the entry points and their signatures\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moa-run: %s\n", message.c_str());
  return 1;
}

void printSignature(const EntrySpec &entry) {
  std::printf("%s(", entry.name.c_str());
  for (size_t i = 0; i < entry.arguments.size(); ++i)
    std::printf("%s%s%s", i ? ", " : "", dtypeName(entry.arguments[i].dtype),
                formatShape(entry.arguments[i].shape).c_str());
  std::printf(") -> (");
  for (size_t i = 0; i < entry.results.size(); ++i)
    std::printf("%s%s%s", i ? ", " : "", dtypeName(entry.results[i].dtype),
                formatShape(entry.results[i].shape).c_str());
  std::printf(")\n");
}

void printHeadUsage(const RunStats &stats) {
  for (size_t r = 0; r < stats.expertCounts.size(); ++r) {
    const std::vector<int64_t> &counts = stats.expertCounts[r];
    int64_t total = 0, used = 0;
    for (int64_t c : counts) {
      total += c;
      used += c > 0;
    }
    std::printf("head usage, router %zu: %lld (token, slot) pairs, %lld of "
                "%zu heads used\n ",
                r, static_cast<long long>(total), static_cast<long long>(used),
                counts.size());
    for (size_t e = 0; e < counts.size(); ++e)
      std::printf(" h%zu:%lld(%.1f%%)", e, static_cast<long long>(counts[e]),
                  total ? 100.0 * counts[e] / total : 0.0);
    std::printf("\n");
  }
}

} // namespace

int run(int argc, char **argv) {
  std::vector<std::string> positional;
  std::string outDir;
  bool random = false, list = false, onDevice = false;
  int64_t seed = 0, repeat = 1;
  std::vector<int64_t> dims;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string &out) {
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    std::string text;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "-o") {
      if (!value(outDir) || outDir.empty())
        return fail("-o needs a directory");
      // Checked now, not after the whole computation.
      if (std::string why = outputDirectoryProblem(outDir); !why.empty())
        return fail(why);
    } else if (arg == "--random") {
      random = true;
    } else if (arg == "--device") {
      onDevice = true;
    } else if (arg == "--list") {
      list = true;
    } else if (arg == "--seed") {
      if (!value(text) || !parseInteger(text, seed))
        return fail("--seed needs an integer");
    } else if (arg == "--repeat") {
      if (!value(text) || !parseInteger(text, repeat) || repeat < 1)
        return fail("--repeat needs a positive integer");
    } else if (arg == "--dims") {
      if (!value(text))
        return fail("--dims needs a list like 4,256");
      size_t start = 0;
      while (start <= text.size()) {
        size_t comma = text.find(',', start);
        int64_t size;
        if (!parseInteger(text.substr(start, comma - start), size) || size < 0)
          return fail("--dims needs non-negative integers, got '" + text + "'");
        dims.push_back(size);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      return fail("unknown option '" + arg + "'\n" + kUsage);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || (!list && positional.size() < 2))
    return fail(std::string("missing MODULE or ENTRY\n") + kUsage);

  std::string error;
  std::unique_ptr<Module> module = Module::load(positional[0], error);
  if (!module)
    return fail(error);
  if (list) {
    for (const EntrySpec &entry : module->manifest().entries)
      printSignature(entry);
    return 0;
  }
  const std::string &entryName = positional[1];
  const EntrySpec *entry = module->findEntry(entryName);
  if (!entry) {
    std::vector<Tensor> none, out;
    module->run(entryName, none, out, error); // the message lists the entries
    return fail(error);
  }

  std::vector<Tensor> inputs;
  if (!dims.empty() && !random)
    return fail("--dims applies to --random inputs only");
  if (random) {
    if (positional.size() > 2)
      return fail("give either input files or --random, not both");
    size_t mostDynamic = 0;
    for (const TensorSpec &spec : entry->arguments)
      mostDynamic = std::max<size_t>(
          mostDynamic, std::count(spec.shape.begin(), spec.shape.end(), -1));
    if (dims.size() > mostDynamic)
      return fail("--dims gives " + std::to_string(dims.size()) +
                  " sizes but no argument of '" + entryName +
                  "' has more than " + std::to_string(mostDynamic) +
                  " dynamic dimensions");
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-0.5, 0.5);
    for (size_t i = 0; i < entry->arguments.size(); ++i) {
      const TensorSpec &spec = entry->arguments[i];
      std::vector<int64_t> shape = spec.shape;
      size_t dynamic = 0;
      for (int64_t &size : shape)
        if (size < 0) {
          if (dynamic >= dims.size()) {
            const auto wanted =
                std::count(spec.shape.begin(), spec.shape.end(), -1);
            return fail("argument " + std::to_string(i) + " of '" + entryName +
                        "' has shape " + formatShape(spec.shape) + ": --dims " +
                        (dims.empty()
                             ? "gives no sizes"
                             : "gives only " + std::to_string(dims.size())) +
                        ", it needs " + std::to_string(wanted) +
                        " (its dynamic sizes, in order)");
          }
          size = dims[dynamic++];
        }
      if (!checkedNumElements(shape))
        return fail("argument " + std::to_string(i) + " of '" + entryName +
                    "' would have shape " + formatShape(shape) +
                    ", which is too large");
      Tensor tensor(spec.dtype, shape);
      if (spec.dtype != DType::I1 && spec.dtype != DType::I32)
        for (int64_t e = 0; e < tensor.numElements(); ++e)
          tensor.set(e, uniform(rng));
      inputs.push_back(std::move(tensor));
    }
  } else {
    for (size_t i = 2; i < positional.size(); ++i) {
      size_t arg = i - 2;
      std::optional<DType> expected;
      if (arg < entry->arguments.size())
        expected = entry->arguments[arg].dtype;
      std::optional<Tensor> tensor = readNpy(positional[i], error, expected);
      if (!tensor)
        return fail(error);
      inputs.push_back(std::move(*tensor));
    }
  }

  std::vector<Tensor> outputs;
  RunStats stats;
  std::vector<double> times, deviceTimes;
  std::vector<Tensor> deviceInputs;
  if (onDevice && !module->device())
    return fail("--device needs a module compiled with --target=cuda");
  for (size_t i = 0; onDevice && i < inputs.size(); ++i)
    if (!module->upload(inputs[i], deviceInputs.emplace_back(), error))
      return fail(error);
  auto timed = [&](const std::vector<Tensor> &in, std::vector<double> &into) {
    auto start = std::chrono::steady_clock::now();
    if (!module->run(entryName, in, outputs, error, &stats))
      return false;
    into.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count());
    return true;
  };
  for (int64_t r = repeat > 1 ? -1 : 0; r < repeat; ++r) {
    std::vector<double> warmUp;
    if (!timed(inputs, r < 0 ? warmUp : times) ||
        (onDevice && !timed(deviceInputs, r < 0 ? warmUp : deviceTimes)))
      return fail(error);
  }
  // The results of the last call (on device tensors with --device).
  for (Tensor &output : outputs)
    if (!module->toHost(output, error))
      return fail(error);

  for (size_t i = 0; i < inputs.size(); ++i)
    std::printf("input %zu: %s %s\n", i, dtypeName(inputs[i].dtype()),
                formatShape(inputs[i].shape()).c_str());
  for (size_t i = 0; i < outputs.size(); ++i)
    std::printf("result %zu: %s %s\n", i, dtypeName(outputs[i].dtype()),
                formatShape(outputs[i].shape()).c_str());
  auto median = [](std::vector<double> &t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  if (onDevice)
    std::printf("time on device tensors: %.3f ms, whole call from host "
                "tensors: %.3f ms (medians of %lld)\n",
                median(deviceTimes), median(times),
                static_cast<long long>(repeat));
  else
    std::printf("time: %.3f ms (median of %lld)\n", median(times),
                static_cast<long long>(repeat));
  printHeadUsage(stats);

  if (!outDir.empty())
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string path = outDir + "/out" + std::to_string(i) + ".npy";
      if (!writeNpy(path, outputs[i], error))
        return fail(error);
    }
  return 0;
}

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    return fail("out of memory (are the --dims or the input shapes right?)");
  }
}
