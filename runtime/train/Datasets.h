//===- Datasets.h - Training data for moa models ----------------*- C++ -*-===//
//
// The data a training run draws its batches from: the synthetic copy task
// and character or token streams from a corpus. The batch of a step is a
// function of (seed, stream, step) alone, so a resumed run sees the same
// data. Shared by moa-train and whatever else drives training.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_TRAIN_DATASETS_H
#define MOA_RUNTIME_TRAIN_DATASETS_H

#include "runtime/Npy.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace moa::train {

using runtime::formatShape;
using runtime::readNpy;
using runtime::Tensor;

/// A generator for the data of one step: a function of (seed, stream, step).
inline std::mt19937_64 streamRng(int64_t seed, uint64_t stream, int64_t step) {
  std::seed_seq seq{uint64_t(seed), stream, uint64_t(step)};
  return std::mt19937_64(seq);
}

/// The bytes of a text corpus, or nullopt with `error`.
inline std::optional<std::string> readCorpus(const std::string &path,
                                             std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read corpus '" + path + "'";
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// The distinct characters of a corpus in sorted order: the text task's
/// token id i is the character table[i].
inline std::vector<unsigned char> characterTable(const std::string &text) {
  std::set<unsigned char> chars(text.begin(), text.end());
  return {chars.begin(), chars.end()};
}

/// Batches of (tokens, positions, targets), each i32 [B, T].
class Dataset {
public:
  virtual ~Dataset() = default;
  virtual void fill(std::mt19937_64 &rng, Tensor &tokens,
                    Tensor &targets) const = 0;
  virtual int64_t vocabulary() const = 0;
  /// The data's parameters, for checkpoints ("symbols 12", a corpus hash).
  virtual std::string describe() const = 0;
};

/// [x_1 .. x_m, SEP, x_1 .. x_m] with m = T / 2: inputs are the first T
/// tokens, targets the next ones, labelled only in the second half (the
/// first half is random and cannot be predicted).
class CopyTask : public Dataset {
public:
  explicit CopyTask(int64_t symbols) : symbols(symbols) {}
  void fill(std::mt19937_64 &rng, Tensor &tokens,
            Tensor &targets) const override {
    const int64_t batch = tokens.shape()[0], length = tokens.shape()[1];
    const int64_t m = length / 2;
    std::uniform_int_distribution<int32_t> symbol(0, int32_t(symbols) - 1);
    std::vector<int32_t> sequence(length + 1);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < m; ++i)
        sequence[i] = symbol(rng);
      sequence[m] = int32_t(symbols); // the separator
      for (int64_t i = m + 1; i <= length; ++i)
        sequence[i] = sequence[i - m - 1];
      for (int64_t j = 0; j < length; ++j) {
        tokens.as<int32_t>()[b * length + j] = sequence[j];
        targets.as<int32_t>()[b * length + j] = j >= m ? sequence[j + 1] : -1;
      }
    }
  }
  int64_t vocabulary() const override { return symbols + 1; }
  std::string describe() const override {
    return "symbols " + std::to_string(symbols);
  }

private:
  int64_t symbols;
};

/// Random windows of a stream of token ids: a character corpus (characters
/// numbered in sorted order) or an i32 .npy file of ids.
class StreamTask : public Dataset {
public:
  /// Characters numbered by `numbering`'s table (a held-out corpus read
  /// as its training corpus numbers them), else by this text's own.
  static std::unique_ptr<StreamTask>
  fromText(const std::string &path, std::string &error,
           const StreamTask *numbering = nullptr) {
    std::optional<std::string> text = readCorpus(path, error);
    if (!text)
      return nullptr;
    auto task = std::unique_ptr<StreamTask>(new StreamTask("corpus"));
    task->characters =
        numbering ? numbering->characters : characterTable(*text);
    std::map<unsigned char, int32_t> ids;
    for (unsigned char c : task->characters)
      ids.emplace(c, int32_t(ids.size()));
    for (unsigned char c : *text) {
      auto id = ids.find(c);
      if (id == ids.end()) {
        error = "'" + path + "' holds the character " + std::to_string(c) +
                ", which its training corpus does not";
        return nullptr;
      }
      task->stream.push_back(id->second);
    }
    task->vocab = int64_t(ids.size());
    return task;
  }

  static std::unique_ptr<StreamTask> fromNpy(const std::string &path,
                                             std::string &error) {
    std::optional<Tensor> ids = readNpy(path, error);
    if (!ids)
      return nullptr;
    if (ids->dtype() != DType::I32 || ids->rank() != 1) {
      error = "token file '" + path + "' must hold a 1-D i32 array, not " +
              dtypeName(ids->dtype()) + formatShape(ids->shape());
      return nullptr;
    }
    auto task = std::unique_ptr<StreamTask>(new StreamTask("tokens"));
    const int32_t *data = ids->as<int32_t>();
    task->stream.assign(data, data + ids->numElements());
    for (int32_t id : task->stream) {
      if (id < 0) {
        error = "token file '" + path + "' holds the negative id " +
                std::to_string(id);
        return nullptr;
      }
      task->vocab = std::max<int64_t>(task->vocab, int64_t(id) + 1);
    }
    return task;
  }

  void fill(std::mt19937_64 &rng, Tensor &tokens,
            Tensor &targets) const override {
    const int64_t batch = tokens.shape()[0], length = tokens.shape()[1];
    std::uniform_int_distribution<size_t> start(0, stream.size() - length - 1);
    for (int64_t b = 0; b < batch; ++b) {
      size_t s = start(rng);
      for (int64_t j = 0; j < length; ++j) {
        tokens.as<int32_t>()[b * length + j] = stream[s + j];
        targets.as<int32_t>()[b * length + j] = stream[s + j + 1];
      }
    }
  }
  int64_t vocabulary() const override { return vocab; }
  std::string describe() const override {
    // FNV-1a of the ids.
    uint64_t hash = 1469598103934665603ull;
    for (int32_t id : stream)
      for (int byte = 0; byte < 4; ++byte)
        hash =
            (hash ^ ((uint32_t(id) >> (8 * byte)) & 0xff)) * 1099511628211ull;
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%016llx", (unsigned long long)hash);
    return kind + " " + std::to_string(stream.size()) + " tokens fnv1a " +
           buffer;
  }
  size_t size() const { return stream.size(); }

private:
  explicit StreamTask(std::string kind) : kind(std::move(kind)) {}
  std::string kind;
  std::vector<unsigned char> characters; // a text corpus's table
  std::vector<int32_t> stream;
  int64_t vocab = 0;
};

} // namespace moa::train

#endif // MOA_RUNTIME_TRAIN_DATASETS_H
