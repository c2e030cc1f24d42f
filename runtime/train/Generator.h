//===- Generator.h - Generating with a compiled decoder ---------*- C++ -*-===//
//
// Drives the entries that moa-generate-decode adds to a compiled module
// (`<f>_prefill` and `<f>_decode`): loads the parameters from a moa-train
// checkpoint, prefills a batch of prompts of different lengths, then decodes
// one token per sequence and step, the caches donated to each call (updated
// in place), picking each token greedily or by sampling. moa-generate is a
// command line over it.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_TRAIN_GENERATOR_H
#define MOA_RUNTIME_TRAIN_GENERATOR_H

#include "runtime/Runtime.h"

#include <random>
#include <string>
#include <vector>

namespace moa::train {

using runtime::Module;
using runtime::Tensor;

/// How the next token is picked: greedily at temperature 0 (the highest
/// logit, the lowest id on ties), else drawn from softmax(logits /
/// temperature) restricted to the `topK` most likely tokens (0: all) and
/// then to the smallest set whose probability reaches `topP` (1: all).
struct Sampling {
  double temperature = 0, topP = 1;
  int64_t topK = 0;
};

/// The next token for `logits[0 : vocab]`; `rng` is used only when sampling.
int32_t pickToken(const float *logits, int64_t vocab, const Sampling &sampling,
                  std::mt19937_64 &rng);

/// What a generation run did.
struct Generation {
  std::vector<std::vector<int32_t>> tokens; // the new tokens of each prompt
  /// decodedTokens and decodeSeconds leave out the first decoding step
  /// (a warm-up: it compiles the GEMM kernels of the step's shapes).
  int64_t promptTokens = 0, decodedTokens = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
  int64_t cacheBytes = 0, cacheBytesPerToken = 0;
};

class Generator {
public:
  /// The decoder of `function` in `module`; null with `error` if the
  /// module has no such entries (compiled without moa-generate-decode).
  static std::unique_ptr<Generator>
  create(const Module &module, const std::string &function, std::string &error);

  /// The parameters from a safetensors checkpoint (as moa-train writes it:
  /// `p.<name>`); the file is only read.
  bool loadCheckpoint(const std::string &path, std::string &error);

  int64_t vocabulary() const { return vocab; }
  /// The rows of each cache (0 for a model without attention layers): a
  /// prompt and its new tokens but the last fit in them.
  int64_t maxLength() const { return slots; }

  /// `newTokens` (>= 1) tokens for each prompt (all in one batch); false
  /// with `error` for prompts that are empty, hold ids outside the
  /// vocabulary or do not fit the caches with the new tokens, or when a
  /// call fails.
  bool generate(const std::vector<std::vector<int32_t>> &prompts,
                int64_t newTokens, const Sampling &sampling, uint64_t seed,
                Generation &out, std::string &error);

private:
  Generator(const Module &module) : module(module) {}
  bool checkPrompts(const std::vector<std::vector<int32_t>> &prompts,
                    int64_t newTokens, std::string &error) const;
  /// Inputs of an entry: the parameters, tokens, positions (if the model
  /// has them), `caches` (decode), lengths.
  std::vector<Tensor *> inputs(Tensor &tokens, Tensor &positions,
                               std::vector<Tensor> &caches, Tensor &lengths);

  const Module &module;
  std::string prefill, decode;
  std::vector<std::string> paramNames;
  std::vector<Tensor> params;
  bool hasPositions = false;
  size_t numCaches = 0;
  int64_t vocab = 0, slots = 0;
};

} // namespace moa::train

#endif // MOA_RUNTIME_TRAIN_GENERATOR_H
