//===- Generator.cpp - Generating with a compiled decoder -----------------===//

#include "runtime/train/Generator.h"
#include "runtime/SafeTensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

namespace moa::train {

namespace {
double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

bool startsWith(const std::string &text, const char *prefix) {
  return text.rfind(prefix, 0) == 0;
}
} // namespace

int32_t pickToken(const float *logits, int64_t vocab, const Sampling &sampling,
                  std::mt19937_64 &rng) {
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  // Most likely first, the lower id first among equals (NaN last).
  auto better = [&](int32_t a, int32_t b) {
    if (std::isnan(logits[a]) || std::isnan(logits[b]))
      return !std::isnan(logits[a]) && std::isnan(logits[b]);
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (sampling.temperature <= 0)
    return *std::min_element(order.begin(), order.end(), better);
  std::stable_sort(order.begin(), order.end(), better);
  if (sampling.topK > 0 && sampling.topK < vocab)
    order.resize(sampling.topK);
  std::vector<double> weights;
  const double top = logits[order[0]];
  for (int32_t id : order)
    weights.push_back(std::exp((logits[id] - top) / sampling.temperature));
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  // The nucleus: the most likely tokens until their probability reaches p.
  double kept = 0;
  size_t n = 0;
  while (n < weights.size() && (n == 0 || kept < sampling.topP * total))
    kept += weights[n++];
  weights.resize(n);
  std::discrete_distribution<size_t> draw(weights.begin(), weights.end());
  return order[draw(rng)];
}

std::unique_ptr<Generator> Generator::create(const Module &module,
                                             const std::string &function,
                                             std::string &error) {
  std::unique_ptr<Generator> g(new Generator(module));
  g->prefill = function + "_prefill";
  g->decode = function + "_decode";
  const EntrySpec *prefill = module.findEntry(g->prefill);
  const EntrySpec *decode = module.findEntry(g->decode);
  if (!prefill || !decode) {
    error = "the module has no entries '" + g->prefill + "' and '" + g->decode +
            "' (compile it with --pre-pipeline='moa-generate-decode{function=" +
            function + "}')";
    return nullptr;
  }
  // decode: p.* tokens [positions] cache.* lengths -> logits, caches.
  const std::vector<TensorSpec> &args = decode->arguments;
  size_t i = 0;
  for (; i < args.size() && startsWith(args[i].name, "p."); ++i)
    g->paramNames.push_back(args[i].name);
  bool ok = i < args.size() && args[i++].name == "tokens";
  g->hasPositions = ok && i < args.size() && args[i].name == "positions";
  i += g->hasPositions;
  for (; i < args.size() && startsWith(args[i].name, "cache."); ++i)
    ++g->numCaches;
  ok &= i + 1 == args.size() && args[i].name == "lengths" &&
        prefill->arguments.size() == args.size() - g->numCaches &&
        decode->results.size() == 1 + g->numCaches &&
        decode->results[0].shape.size() == 2 &&
        decode->results[0].dtype == DType::F32;
  if (!ok) {
    error = "entries '" + g->prefill + "' and '" + g->decode +
            "' are not those moa-generate-decode makes (f32 logits [B, V])";
    return nullptr;
  }
  g->vocab = decode->results[0].shape[1];
  // Without attention layers nothing bounds the length (0: no caches).
  g->slots = g->numCaches
                 ? args[g->paramNames.size() + 1 + g->hasPositions].shape[1]
                 : 0;
  return g;
}

bool Generator::loadCheckpoint(const std::string &path, std::string &error) {
  std::map<std::string, std::string> metadata;
  auto tensors = runtime::readSafetensors(path, metadata, error);
  if (!tensors)
    return false;
  std::map<std::string, Tensor *> byName;
  for (runtime::NamedTensor &t : *tensors)
    byName[t.name] = &t.tensor;
  const EntrySpec &entry = *module.findEntry(decode);
  params.clear();
  for (size_t i = 0; i < paramNames.size(); ++i) {
    const TensorSpec &spec = entry.arguments[i];
    auto found = byName.find(spec.name);
    if (found == byName.end()) {
      error = "checkpoint '" + path + "' has no tensor '" + spec.name +
              "': it is not a checkpoint of this model";
      return false;
    }
    if (found->second->dtype() != spec.dtype ||
        found->second->shape() != spec.shape) {
      error = "checkpoint '" + path + "': tensor '" + spec.name + "' is " +
              dtypeName(found->second->dtype()) +
              runtime::formatShape(found->second->shape()) +
              ", the model needs " + dtypeName(spec.dtype) +
              runtime::formatShape(spec.shape);
      return false;
    }
    params.push_back(std::move(*found->second));
  }
  return true;
}

bool Generator::checkPrompts(const std::vector<std::vector<int32_t>> &prompts,
                             int64_t newTokens, std::string &error) const {
  if (prompts.empty()) {
    error = "no prompt";
    return false;
  }
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::string which = "prompt " + std::to_string(p + 1);
    if (prompts[p].empty()) {
      error = which + " is empty";
      return false;
    }
    for (int32_t id : prompts[p])
      if (id < 0 || id >= vocab) {
        error = which + ": id " + std::to_string(id) +
                " is outside the vocabulary [0, " + std::to_string(vocab) + ")";
        return false;
      }
    // The last new token is never fed back: it needs no cache row.
    const int64_t needed = int64_t(prompts[p].size()) + newTokens - 1;
    if (slots > 0 && needed > slots) {
      error = which + ": " + std::to_string(prompts[p].size()) +
              " tokens and " + std::to_string(newTokens) + " new ones need " +
              std::to_string(needed) + " cache rows, the caches hold " +
              std::to_string(slots) +
              " (compile with moa-generate-decode{max-length=N})";
      return false;
    }
  }
  return true;
}

std::vector<Tensor *> Generator::inputs(Tensor &tokens, Tensor &positions,
                                        std::vector<Tensor> &caches,
                                        Tensor &lengths) {
  std::vector<Tensor *> in;
  for (Tensor &p : params)
    in.push_back(&p);
  in.push_back(&tokens);
  if (hasPositions)
    in.push_back(&positions);
  for (Tensor &c : caches)
    in.push_back(&c);
  in.push_back(&lengths);
  return in;
}

bool Generator::generate(const std::vector<std::vector<int32_t>> &prompts,
                         int64_t newTokens, const Sampling &sampling,
                         uint64_t seed, Generation &out, std::string &error) {
  if (params.size() != paramNames.size()) {
    error = "no parameters loaded";
    return false;
  }
  if (newTokens < 1) {
    error = "at least one new token per prompt";
    return false;
  }
  if (!checkPrompts(prompts, newTokens, error))
    return false;
  // On a GPU module the parameters go over once, and the caches the prefill
  // returns stay on the device, updated in place by each decoding step:
  // per step only the new tokens go in and the logits come back.
  for (Tensor &p : params)
    if (!module.toDevice(p, error))
      return false;
  const int64_t batch = int64_t(prompts.size());
  int64_t longest = 0;
  for (const auto &p : prompts)
    longest = std::max<int64_t>(longest, int64_t(p.size()));
  Tensor tokens(DType::I32, {batch, longest}),
      positions(DType::I32, {batch, longest}), lengths(DType::I32, {batch});
  out = Generation();
  out.tokens.resize(batch);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = 0; j < longest; ++j) {
      const size_t n = prompts[b].size();
      tokens.as<int32_t>()[b * longest + j] =
          j < int64_t(n) ? prompts[b][j] : 0;
      positions.as<int32_t>()[b * longest + j] = int32_t(j);
    }
    lengths.as<int32_t>()[b] = int32_t(prompts[b].size());
    out.promptTokens += int64_t(prompts[b].size());
  }

  std::vector<Tensor> caches, results;
  std::mt19937_64 rng(seed);
  auto pickAll = [&](Tensor &logits) {
    if (!module.toHost(logits, error))
      return false;
    for (int64_t b = 0; b < batch; ++b)
      out.tokens[b].push_back(
          pickToken(logits.as<float>() + b * vocab, vocab, sampling, rng));
    return true;
  };
  auto start = std::chrono::steady_clock::now();
  if (!module.runDonating(prefill, inputs(tokens, positions, caches, lengths),
                          results, error))
    return false;
  out.prefillSeconds = secondsSince(start);
  if (!pickAll(results[0]))
    return false;
  for (size_t c = 1; c < results.size(); ++c) {
    out.cacheBytes += results[c].byteSize();
    caches.push_back(std::move(results[c]));
  }
  out.cacheBytesPerToken = slots ? out.cacheBytes / (batch * slots) : 0;

  // Step s feeds each sequence's newest token at position length + s - 1.
  // The first step is not timed: it compiles the GEMM kernels of its
  // shapes (libxsmm's JIT) and wakes the threads.
  tokens = Tensor(DType::I32, {batch, 1});
  positions = Tensor(DType::I32, {batch, 1});
  for (int64_t step = 1; step < newTokens; ++step) {
    if (step == 2)
      start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t at = int32_t(prompts[b].size() + step - 1);
      tokens.as<int32_t>()[b] = out.tokens[b].back();
      positions.as<int32_t>()[b] = at;
      lengths.as<int32_t>()[b] = at;
    }
    if (!module.runDonating(decode, inputs(tokens, positions, caches, lengths),
                            results, error))
      return false;
    if (!pickAll(results[0]))
      return false;
    for (size_t c = 1; c < results.size(); ++c)
      caches[c - 1] = std::move(results[c]);
    if (step >= 2)
      out.decodedTokens += batch;
  }
  if (out.decodedTokens > 0)
    out.decodeSeconds = secondsSince(start);
  return true;
}

} // namespace moa::train
