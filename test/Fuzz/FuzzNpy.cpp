//===- FuzzNpy.cpp - libFuzzer target for the .npy reader -----------------===//
//
// Any bytes: readNpy returns a tensor or an error, never crashes, and a
// tensor it returns has as many bytes as its shape says.
//
//===----------------------------------------------------------------------===//

#include "runtime/Npy.h"
#include "test/Fuzz/FuzzSupport.h"

using namespace moa::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  std::optional<Tensor> tensor = readNpy(moa::fuzz::asFile(data, size), error);
  if (tensor && size_t(tensor->byteSize()) > size)
    std::abort(); // more data than the file holds
  if (!tensor && error.empty())
    std::abort(); // a failure without a message
  return 0;
}
