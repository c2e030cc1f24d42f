//===- Manifest.cpp - The entry-point manifest of a compiled module -------===//

#include "runtime/Manifest.h"

#include <sstream>

namespace moa {

namespace {
constexpr const char *kDTypeNames[] = {"f32", "f16", "bf16", "i32", "i1"};
constexpr int64_t kDTypeSizes[] = {4, 2, 2, 4, 1};
} // namespace

const char *dtypeName(DType dtype) {
  return kDTypeNames[static_cast<int>(dtype)];
}

int64_t dtypeSize(DType dtype) { return kDTypeSizes[static_cast<int>(dtype)]; }

std::optional<DType> parseDType(const std::string &name) {
  for (int i = 0; i < 5; ++i)
    if (name == kDTypeNames[i])
      return static_cast<DType>(i);
  return std::nullopt;
}

/// Each tied result names a distinct argument of its own dtype and shape.
static bool checkTies(const EntrySpec &entry, std::string &error) {
  std::vector<bool> taken(entry.arguments.size(), false);
  for (size_t r = 0; r < entry.results.size(); ++r) {
    int64_t arg = entry.results[r].tied;
    if (arg < 0)
      continue;
    if (size_t(arg) >= entry.arguments.size() || taken[arg] ||
        entry.arguments[arg].dtype != entry.results[r].dtype ||
        entry.arguments[arg].shape != entry.results[r].shape) {
      error = "result " + std::to_string(r) + " of entry '" + entry.name +
              "' is tied to argument " + std::to_string(arg) +
              ", which is not a distinct argument of its type";
      return false;
    }
    taken[arg] = true;
  }
  return true;
}

std::string Manifest::print() const {
  std::ostringstream os;
  os << "moa-manifest " << kManifestVersion << "\n";
  if (ranks > 0)
    os << "ranks " << ranks << "\n";
  auto printSpec = [&](const char *kind, const TensorSpec &spec) {
    os << kind << " " << dtypeName(spec.dtype) << " " << spec.shape.size();
    for (int64_t size : spec.shape) {
      if (size < 0)
        os << " ?";
      else
        os << " " << size;
    }
    if (!spec.name.empty())
      os << " name=" << spec.name;
    if (!spec.init.empty())
      os << " init=" << spec.init;
    if (spec.tied >= 0)
      os << " tied=" << spec.tied;
    os << "\n";
  };
  for (const EntrySpec &entry : entries) {
    os << "entry " << entry.name << " " << entry.arguments.size() << " "
       << entry.results.size() << "\n";
    for (const TensorSpec &spec : entry.arguments)
      printSpec("arg", spec);
    for (const TensorSpec &spec : entry.results)
      printSpec("result", spec);
  }
  return os.str();
}

std::optional<Manifest> Manifest::parse(const std::string &text,
                                        std::string &error) {
  std::istringstream in(text);
  std::string word;
  int version = 0;
  if (!(in >> word >> version) || word != "moa-manifest" || version < 1 ||
      version > kManifestVersion) {
    error =
        "not a moa manifest (version " + std::to_string(kManifestVersion) + ")";
    return std::nullopt;
  }
  if (version < kManifestVersion) {
    error = "compiled by an older moa (manifest version " +
            std::to_string(version) + ", this runtime's is " +
            std::to_string(kManifestVersion) +
            ", whose calls from generated code differ): compile it again";
    return std::nullopt;
  }
  // A spec is one line: the fixed fields, then optional key=value words.
  auto readSpec = [&](const char *kind, TensorSpec &spec) {
    std::string line;
    if (!(in >> std::ws) || !std::getline(in, line))
      return false;
    std::istringstream fields(line);
    std::string name;
    size_t rank = 0;
    if (!(fields >> word >> name >> rank) || word != kind || rank > 64)
      return false;
    std::optional<DType> dtype = parseDType(name);
    if (!dtype)
      return false;
    spec.dtype = *dtype;
    spec.shape.resize(rank);
    for (int64_t &size : spec.shape) {
      if (!(fields >> word))
        return false;
      if (word == "?") {
        size = -1;
        continue;
      }
      try {
        size = std::stoll(word);
      } catch (...) {
        return false;
      }
      if (size < 0)
        return false;
    }
    while (fields >> word) {
      if (word.rfind("name=", 0) == 0)
        spec.name = word.substr(5);
      else if (word.rfind("init=", 0) == 0)
        spec.init = word.substr(5);
      else if (word.rfind("tied=", 0) == 0 && std::string(kind) == "result") {
        try {
          spec.tied = std::stoll(word.substr(5));
        } catch (...) {
          return false;
        }
        if (spec.tied < 0)
          return false;
      } else
        return false;
    }
    return true;
  };
  Manifest manifest;
  if (in >> std::ws && in.peek() == 'r') {
    if (!(in >> word >> manifest.ranks) || word != "ranks" ||
        manifest.ranks < 1) {
      error = "malformed ranks line";
      return std::nullopt;
    }
  }
  while (in >> word) {
    EntrySpec entry;
    size_t numArgs = 0, numResults = 0;
    if (word != "entry" || !(in >> entry.name >> numArgs >> numResults) ||
        numArgs > 4096 || numResults > 4096) {
      error = "malformed entry line";
      return std::nullopt;
    }
    entry.arguments.resize(numArgs);
    entry.results.resize(numResults);
    for (TensorSpec &spec : entry.arguments)
      if (!readSpec("arg", spec)) {
        error = "malformed argument of entry '" + entry.name + "'";
        return std::nullopt;
      }
    for (TensorSpec &spec : entry.results)
      if (!readSpec("result", spec)) {
        error = "malformed result of entry '" + entry.name + "'";
        return std::nullopt;
      }
    if (!checkTies(entry, error))
      return std::nullopt;
    manifest.entries.push_back(std::move(entry));
  }
  return manifest;
}

} // namespace moa
