//===- moa-generate.cpp - Generate text with a compiled moa model ---------===//
//
// The command line over train::Generator: loads a module compiled with
// moa-generate-decode and a moa-train checkpoint, and continues prompts
// (token ids, or text through a corpus's character table), greedily or by
// sampling, printing the continuations, prefill and decode speed and the
// size of the key/value caches.
//
//===----------------------------------------------------------------------===//

#include "runtime/Numbers.h"
#include "runtime/train/Datasets.h"
#include "runtime/train/Generator.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

using namespace moa;
using namespace moa::train;

namespace {

const char *kUsage =
    "usage: moa-generate MODULE --checkpoint CK.safetensors\n"
    "           (--prompt-ids 1,2,3 | --prompt TEXT --text CORPUS |\n"
    "            --prompts FILE [--text CORPUS]) [options]\n"
    "  Continues each prompt by --max-new-tokens tokens with the\n"
    "  <function>_prefill and <function>_decode entries of MODULE (compiled\n"
    "  with --pre-pipeline='moa-generate-decode'); all prompts run as one\n"
    "  batch. The checkpoint is one moa-train wrote for the same model.\n"
    "options:\n"
    "  --prompt-ids IDS      one prompt of comma-separated token ids\n"
    "  --prompt TEXT         one prompt of text (needs --text)\n"
    "  --prompts FILE        one prompt per line: ids, or text with --text\n"
    "  --text CORPUS         the corpus whose characters are the vocabulary\n"
    "                        (as moa-train --task text numbers them)\n"
    "  --max-new-tokens N    tokens to generate per prompt (default 16)\n"
    "  --temperature T       0: greedy (default); else sample softmax(l/T)\n"
    "  --top-k K             sample among the K most likely (0: all)\n"
    "  --top-p P             sample within the nucleus of probability P\n"
    "                        (default 1: all)\n"
    "  --seed S              sampling seed (default 1)\n"
    "  --function NAME       the model's loss function (default loss)\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moa-generate: %s\n", message.c_str());
  return 1;
}

/// "1,2,3" as ids; false if a field is not an integer.
bool parseIds(const std::string &text, std::vector<int32_t> &ids) {
  std::stringstream fields(text);
  std::string field;
  while (std::getline(fields, field, ',')) {
    int64_t id = 0;
    if (!runtime::parseInteger(field, id) || id < INT32_MIN || id > INT32_MAX)
      return false;
    ids.push_back(int32_t(id));
  }
  return true;
}

/// Text and ids through a corpus's character table.
struct Characters {
  std::vector<unsigned char> table;
  std::map<unsigned char, int32_t> ids;

  bool encode(const std::string &text, std::vector<int32_t> &out,
              std::string &error) const {
    for (unsigned char c : text) {
      auto id = ids.find(c);
      if (id == ids.end()) {
        error = "the prompt's character '" + std::string(1, char(c)) +
                "' is not in the corpus";
        return false;
      }
      out.push_back(id->second);
    }
    return true;
  }
  std::string decode(const std::vector<int32_t> &tokens) const {
    std::string text;
    for (int32_t id : tokens)
      text += id >= 0 && size_t(id) < table.size() ? char(table[id]) : '?';
    return text;
  }
};

struct Options {
  std::string module, checkpoint, promptIds, prompt, promptsFile, text,
      function = "loss";
  int64_t maxNewTokens = 16, seed = 1;
  Sampling sampling;
};

/// The prompts the options give, as ids.
bool readPrompts(const Options &o, const Characters *chars,
                 std::vector<std::vector<int32_t>> &prompts,
                 std::string &error) {
  auto add = [&](const std::string &line, const std::string &where) {
    std::vector<int32_t> ids;
    bool ok = chars ? chars->encode(line, ids, error) : parseIds(line, ids);
    if (!ok && !chars)
      error = where + ": '" + line + "' is not a list of token ids";
    else if (!ok)
      error = where + ": " + error;
    prompts.push_back(std::move(ids));
    return ok;
  };
  if (!o.promptIds.empty() && !o.prompt.empty()) {
    error = "give --prompt-ids or --prompt, not both";
    return false;
  }
  if (!o.promptsFile.empty()) {
    std::ifstream in(o.promptsFile);
    if (!in) {
      error = "cannot read '" + o.promptsFile + "'";
      return false;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      if (!add(line, o.promptsFile + ":" + std::to_string(n)))
        return false;
  }
  if (!o.promptIds.empty() && !add(o.promptIds, "--prompt-ids"))
    return false;
  if (!o.prompt.empty()) {
    if (!chars) {
      error = "--prompt needs --text CORPUS (its characters are the "
              "vocabulary); give ids with --prompt-ids";
      return false;
    }
    if (!add(o.prompt, "--prompt"))
      return false;
  }
  if (prompts.empty()) {
    error = "no prompt: give --prompt-ids, --prompt or --prompts";
    return false;
  }
  return true;
}

bool parseOptions(int argc, char **argv, Options &o, std::string &error) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      return i + 1 < argc ? argv[++i] : std::string();
    };
    bool ok = true;
    if (arg == "--checkpoint")
      o.checkpoint = value();
    else if (arg == "--prompt-ids")
      ok = !(o.promptIds = value()).empty();
    else if (arg == "--prompt")
      ok = !(o.prompt = value()).empty();
    else if (arg == "--prompts")
      o.promptsFile = value();
    else if (arg == "--text")
      o.text = value();
    else if (arg == "--function")
      o.function = value();
    else if (arg == "--max-new-tokens")
      ok =
          runtime::parseInteger(value(), o.maxNewTokens) && o.maxNewTokens >= 1;
    else if (arg == "--seed")
      ok = runtime::parseInteger(value(), o.seed) && o.seed >= 0;
    else if (arg == "--top-k")
      ok = runtime::parseInteger(value(), o.sampling.topK) &&
           o.sampling.topK >= 0;
    else if (arg == "--temperature")
      ok = runtime::parseFinite(value(), o.sampling.temperature) &&
           o.sampling.temperature >= 0;
    else if (arg == "--top-p")
      ok = runtime::parseFinite(value(), o.sampling.topP) &&
           o.sampling.topP > 0 && o.sampling.topP <= 1;
    else if (!arg.empty() && arg[0] == '-') {
      error = "unknown option '" + arg + "'\n" + kUsage;
      return false;
    } else
      positional.push_back(arg);
    if (!ok) {
      error = "bad value for " + arg +
              (arg == "--prompt" || arg == "--prompt-ids" ? " (an empty prompt)"
                                                          : "");
      return false;
    }
  }
  if (positional.size() != 1 || o.checkpoint.empty()) {
    error = std::string("expected one MODULE and --checkpoint\n") + kUsage;
    return false;
  }
  o.module = positional[0];
  return true;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 2 &&
      (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Options o;
  std::string error;
  if (!parseOptions(argc, argv, o, error))
    return fail(error);
  std::unique_ptr<Characters> chars;
  if (!o.text.empty()) {
    std::optional<std::string> corpus = readCorpus(o.text, error);
    if (!corpus)
      return fail(error);
    chars = std::make_unique<Characters>();
    chars->table = characterTable(*corpus);
    for (size_t i = 0; i < chars->table.size(); ++i)
      chars->ids[chars->table[i]] = int32_t(i);
  }
  std::vector<std::vector<int32_t>> prompts;
  if (!readPrompts(o, chars.get(), prompts, error))
    return fail(error);

  auto module = runtime::Module::load(o.module, error);
  if (!module)
    return fail(error);
  auto generator = Generator::create(*module, o.function, error);
  if (!generator || !generator->loadCheckpoint(o.checkpoint, error))
    return fail(error);
  Generation out;
  if (!generator->generate(prompts, o.maxNewTokens, o.sampling,
                           uint64_t(o.seed), out, error))
    return fail(error);

  for (size_t p = 0; p < prompts.size(); ++p) {
    if (chars) {
      std::printf("generated: %s|%s\n", chars->decode(prompts[p]).c_str(),
                  chars->decode(out.tokens[p]).c_str());
      continue;
    }
    std::printf("generated ids:");
    for (size_t i = 0; i < out.tokens[p].size(); ++i)
      std::printf("%s%d", i ? "," : " ", out.tokens[p][i]);
    std::printf("\n");
  }
  std::printf("prefill: %lld tokens in %.3f ms (%.0f tokens/s)\n",
              (long long)out.promptTokens, out.prefillSeconds * 1e3,
              out.promptTokens / out.prefillSeconds);
  if (out.decodedTokens > 0)
    std::printf("decode: %lld tokens in %.3f ms (%.0f tokens/s; the first "
                "step, a warm-up, not counted)\n",
                (long long)out.decodedTokens, out.decodeSeconds * 1e3,
                out.decodedTokens / out.decodeSeconds);
  if (generator->maxLength() == 0)
    std::printf("cache: 0 bytes (the model has no attention layer)\n");
  else
    std::printf("cache: %lld bytes (%lld per token of %lld rows x %zu "
                "sequences)\n",
                (long long)out.cacheBytes, (long long)out.cacheBytesPerToken,
                (long long)generator->maxLength(), prompts.size());
  return 0;
}
