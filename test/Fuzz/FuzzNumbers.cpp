//===- FuzzNumbers.cpp - libFuzzer target for command-line numbers --------===//
//
// Any text: parseInteger accepts exactly what prints back to itself as an
// int64 (no sign quirks, spaces or suffixes), and parseFinite never yields
// NaN or infinity.
//
//===----------------------------------------------------------------------===//

#include "runtime/Numbers.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace moa::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  int64_t integer = 0;
  if (parseInteger(text, integer)) {
    int64_t again = 0;
    if (!parseInteger(std::to_string(integer), again) || again != integer)
      std::abort();
  }
  double real = 0;
  if (parseFinite(text, real) && !std::isfinite(real))
    std::abort();
  return 0;
}
