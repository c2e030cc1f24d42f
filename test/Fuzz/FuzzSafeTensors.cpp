//===- FuzzSafeTensors.cpp - libFuzzer target for the safetensors reader --===//
//
// Any bytes: readSafetensors returns tensors or an error naming the file,
// never crashes, and never returns more tensor bytes than the file holds.
//
//===----------------------------------------------------------------------===//

#include "runtime/SafeTensors.h"
#include "test/Fuzz/FuzzSupport.h"

using namespace moa::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::map<std::string, std::string> metadata;
  std::string error;
  auto tensors =
      readSafetensors(moa::fuzz::asFile(data, size), metadata, error);
  if (!tensors) {
    if (error.empty())
      std::abort();
    return 0;
  }
  size_t bytes = 0;
  for (const NamedTensor &named : *tensors)
    bytes += size_t(named.tensor.byteSize());
  if (bytes > size)
    std::abort();
  return 0;
}
