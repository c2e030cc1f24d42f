//===- SafeTensorsTest.cpp - safetensors checkpoints ----------------------===//
//
// usage: moa-safetensors-test DIR
//          Round-trips random tensors of every dtype through DIR, writes
//          DIR/fixed.safetensors for safetensors_check.py, and prints the
//          error of each malformed checkpoint it writes into DIR.
//        moa-safetensors-test --dump FILE
//          Prints the metadata and tensors of FILE (to read files that
//          safetensors_check.py writes).
//
//===----------------------------------------------------------------------===//

#include "runtime/SafeTensors.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sys/stat.h>

using namespace moa;
using namespace moa::runtime;

namespace {
int failures = 0;

void check(bool condition, const std::string &what) {
  if (!condition) {
    std::printf("FAILED: %s\n", what.c_str());
    ++failures;
  }
}

/// Random bit patterns (NaNs and infinities included for the floats): the
/// round trip must keep bits, not values.
Tensor randomTensor(DType dtype, std::vector<int64_t> shape,
                    std::mt19937 &rng) {
  Tensor tensor(dtype, std::move(shape));
  uint8_t *bytes = tensor.as<uint8_t>();
  for (int64_t i = 0; i < tensor.byteSize(); ++i)
    bytes[i] = static_cast<uint8_t>(rng());
  if (dtype == DType::I1)
    for (int64_t i = 0; i < tensor.numElements(); ++i)
      bytes[i] &= 1;
  return tensor;
}

bool sameTensor(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

void roundTrip(const std::string &dir) {
  std::mt19937 rng(42);
  const DType dtypes[] = {DType::F32, DType::F16, DType::BF16, DType::I32,
                          DType::I1};
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {1}, {7}, {3, 5}, {2, 3, 4}, {0, 3}, {2, 1, 3, 2}};
  std::vector<NamedTensor> tensors;
  for (DType dtype : dtypes)
    for (const std::vector<int64_t> &shape : shapes)
      tensors.push_back(
          {std::string(dtypeName(dtype)) + "." + std::to_string(tensors.size()),
           randomTensor(dtype, shape, rng)});
  // Names and metadata that need escaping in JSON.
  tensors.push_back({"layer \"0\"\\w_q\n\t\x01 \xc3\xa9\xf0\x9f\x98\x80",
                     randomTensor(DType::F32, {4, 4}, rng)});
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"step", "1200"},
      {"quote\"back\\slash", "line\nbreak\ttab\x1f \xe2\x82\xac"},
      {"", ""}};

  const std::string path = dir + "/round.safetensors";
  std::string error;
  for (int pass = 0; pass < 2; ++pass) { // the second one overwrites
    if (!writeSafetensors(path, tensors, metadata, error)) {
      check(false, error);
      return;
    }
    check(!std::ifstream(path + ".tmp"), "the .tmp file is left behind");
    std::map<std::string, std::string> readMetadata;
    std::optional<std::vector<NamedTensor>> read =
        readSafetensors(path, readMetadata, error);
    if (!read) {
      check(false, error);
      return;
    }
    check(readMetadata == metadata, "metadata differs");
    check(read->size() == tensors.size(), "tensor count differs");
    int identical = 0;
    for (size_t i = 0; i < read->size() && i < tensors.size(); ++i) {
      const bool same = (*read)[i].name == tensors[i].name &&
                        sameTensor((*read)[i].tensor, tensors[i].tensor);
      check(same, "tensor " + std::to_string(i) + " differs");
      identical += same;
    }
    std::printf("round trip %d: %d of %zu tensors identical, %zu metadata\n",
                pass, identical, tensors.size(), readMetadata.size());
  }
}

/// Known values for safetensors_check.py.
void writeFixed(const std::string &dir) {
  std::vector<NamedTensor> tensors;
  auto add = [&](const std::string &name, DType dtype,
                 std::vector<int64_t> shape, double first) {
    Tensor tensor(dtype, std::move(shape));
    for (int64_t i = 0; i < tensor.numElements(); ++i)
      tensor.set(i, dtype == DType::I1 ? i % 2 : first + i);
    tensors.push_back({name, std::move(tensor)});
  };
  add("w_q", DType::F32, {2, 3, 4}, 0.5);
  add("router.bias", DType::F16, {3}, -1.0);
  add("embed", DType::BF16, {2, 2}, 256.0);
  add("token_ids", DType::I32, {5}, -2.0);
  add("mask", DType::I1, {2, 3}, 0.0);
  add("empty", DType::F32, {0, 4}, 0.0);
  std::string error;
  check(writeSafetensors(dir + "/fixed.safetensors", tensors,
                         {{"step", "7"}, {"model", "moa \"tiny\""}}, error),
        error);
}

/// `error` without the occurrences of DIR/, which differs from run to run.
std::string relative(std::string error, const std::string &dir) {
  for (size_t at; (at = error.find(dir + "/")) != std::string::npos;)
    error.erase(at, dir.size() + 1);
  return error;
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A checkpoint with `header` as its JSON and `dataSize` bytes of data;
/// `headerSize` overrides the size field.
std::string checkpoint(const std::string &header, size_t dataSize,
                       std::optional<uint64_t> headerSize = std::nullopt) {
  const uint64_t size = headerSize.value_or(header.size());
  std::string bytes;
  for (int i = 0; i < 8; ++i)
    bytes += char(size >> 8 * i);
  return bytes + header + std::string(dataSize, '\0');
}

void expectError(const std::string &dir, const std::string &label,
                 const std::string &bytes) {
  const std::string path = dir + "/" + label + ".safetensors";
  writeBytes(path, bytes);
  std::map<std::string, std::string> metadata;
  std::string error;
  std::optional<std::vector<NamedTensor>> read =
      readSafetensors(path, metadata, error);
  check(!read, label + " was accepted");
  std::printf("%s: %s\n", label.c_str(), relative(error, dir).c_str());
}

std::string entry(const std::string &name, const std::string &dtype,
                  const std::string &shape, const std::string &offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

void errors(const std::string &dir) {
  std::map<std::string, std::string> metadata;
  std::string error;
  check(!readSafetensors(dir + "/missing.safetensors", metadata, error),
        "a missing file was accepted");
  std::printf("missing: %s\n", relative(error, dir).c_str());

  const std::string good = "{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                           entry("b", "I32", "[1]", "[8,12]") + "}";
  expectError(dir, "short", std::string("\x10\0\0", 3));
  expectError(dir, "truncated",
              checkpoint(good, 12).substr(0, 8 + good.size() + 10));
  expectError(dir, "header-past-end", checkpoint(good, 12, 1000));
  expectError(dir, "header-huge", checkpoint(good, 12, uint64_t(1) << 63));
  expectError(dir, "empty-header", checkpoint("", 0));
  expectError(dir, "not-object", checkpoint("[1, 2]", 0));
  expectError(dir, "bad-json-comma", checkpoint("{\"a\":{},}", 0));
  expectError(dir, "bad-json-unterminated",
              checkpoint("{\"a\":{\"dtype\":\"F32", 0));
  expectError(dir, "bad-json-escape", checkpoint("{\"a\\q\":{}}", 0));
  expectError(dir, "bad-json-float",
              checkpoint("{" + entry("a", "F32", "[2.5]", "[0,8]") + "}", 8));
  expectError(dir, "bad-json-trailing", checkpoint(good + "x", 12));
  expectError(dir, "bad-json-duplicate",
              checkpoint("{" + entry("a", "F32", "[1]", "[0,4]") + "," +
                             entry("a", "F32", "[1]", "[4,8]") + "}",
                         8));
  expectError(dir, "bad-json-deep",
              checkpoint(std::string(100, '[') + std::string(100, ']'), 0));
  expectError(dir, "bad-json-surrogate", checkpoint("{\"\\ud800\":{}}", 0));
  expectError(dir, "bad-utf8", checkpoint("{\"\xff\":{}}", 0));
  expectError(dir, "unknown-dtype",
              checkpoint("{" + entry("a", "F64", "[1]", "[0,8]") + "}", 8));
  expectError(dir, "no-dtype",
              checkpoint("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
  expectError(dir, "negative-shape",
              checkpoint("{" + entry("a", "F32", "[2,-1]", "[0,8]") + "}", 8));
  expectError(
      dir, "huge-shape",
      checkpoint("{" + entry("a", "F32", "[1000000000,1000000000]", "[0,8]") +
                     "}",
                 8));
  expectError(dir, "offsets-past-end",
              checkpoint("{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                             entry("b", "F32", "[100]", "[8,408]") + "}",
                         16));
  expectError(dir, "offsets-reversed",
              checkpoint("{" + entry("a", "F32", "[1]", "[4,0]") + "}", 4));
  expectError(dir, "offsets-not-pair",
              checkpoint("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", 4));
  expectError(
      dir, "size-mismatch",
      checkpoint("{" + entry("w_q", "F32", "[2,3,4]", "[0,92]") + "}", 92));
  expectError(dir, "overlap",
              checkpoint("{" + entry("a", "F32", "[4]", "[0,16]") + "," +
                             entry("b", "F32", "[4]", "[8,24]") + "}",
                         24));
  expectError(dir, "hole",
              checkpoint("{" + entry("a", "F32", "[1]", "[0,4]") + "," +
                             entry("b", "F32", "[1]", "[8,12]") + "}",
                         12));
  expectError(dir, "trailing-data",
              checkpoint("{" + entry("a", "F32", "[1]", "[0,4]") + "}", 12));
  expectError(dir, "metadata-not-string",
              checkpoint("{\"__metadata__\":{\"step\":7}}", 0));
  expectError(dir, "bool-value",
              checkpoint("{" + entry("m", "BOOL", "[3]", "[0,3]") + "}", 0) +
                  std::string("\x01\x00\x02", 3));

  // The writer's own checks.
  std::vector<NamedTensor> twice;
  twice.push_back({"x", Tensor(DType::F32, {1})});
  twice.push_back({"x", Tensor(DType::F32, {1})});
  check(!writeSafetensors(dir + "/dup.safetensors", twice, {}, error),
        "duplicate names were written");
  std::printf("write-duplicate: %s\n", relative(error, dir).c_str());
  twice.pop_back();
  check(!writeSafetensors(dir + "/no/such/dir/x.safetensors", twice, {}, error),
        "a checkpoint was written into a missing directory");
  std::printf("write-missing-dir: %s\n", relative(error, dir).c_str());
  // The rename fails onto a directory: the .tmp file must not stay.
  ::mkdir((dir + "/dir.safetensors").c_str(), 0755);
  check(!writeSafetensors(dir + "/dir.safetensors", twice, {}, error),
        "a checkpoint replaced a directory");
  check(!std::ifstream(dir + "/dir.safetensors.tmp"),
        "a failed write left its .tmp file");
  std::printf("write-onto-dir: %s\n", relative(error, dir).c_str());
}

int dump(const std::string &path) {
  std::map<std::string, std::string> metadata;
  std::string error;
  std::optional<std::vector<NamedTensor>> tensors =
      readSafetensors(path, metadata, error);
  if (!tensors) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  for (const auto &[key, value] : metadata)
    std::printf("metadata %s = %s\n", key.c_str(), value.c_str());
  for (const NamedTensor &named : *tensors) {
    std::printf("%s %s %s:", named.name.c_str(),
                dtypeName(named.tensor.dtype()),
                formatShape(named.tensor.shape()).c_str());
    for (int64_t i = 0; i < std::min<int64_t>(4, named.tensor.numElements());
         ++i)
      std::printf(" %g", named.tensor.at(i));
    std::printf("\n");
  }
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  if (argc == 3 && std::string(argv[1]) == "--dump")
    return dump(argv[2]);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR | --dump FILE\n", argv[0]);
    return 2;
  }
  roundTrip(argv[1]);
  writeFixed(argv[1]);
  errors(argv[1]);
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
