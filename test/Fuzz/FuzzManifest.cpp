//===- FuzzManifest.cpp - libFuzzer target for the manifest parser --------===//
//
// The manifest is text a module carries; a module file is user input. Any
// text: a manifest or an error, and a manifest prints to text that parses
// back to the same manifest.
//
//===----------------------------------------------------------------------===//

#include "runtime/Manifest.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  std::optional<moa::Manifest> manifest = moa::Manifest::parse(
      std::string(reinterpret_cast<const char *>(data), size), error);
  if (!manifest) {
    if (error.empty())
      std::abort();
    return 0;
  }
  std::string printed = manifest->print();
  std::optional<moa::Manifest> again = moa::Manifest::parse(printed, error);
  if (!again || again->print() != printed)
    std::abort(); // print and parse disagree
  return 0;
}
