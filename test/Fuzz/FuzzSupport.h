//===- FuzzSupport.h - Shared by the libFuzzer targets ----------*- C++ -*-===//
//
// The readers take paths, as users hand them files: each input goes to one
// file per process (rewritten every run) and the reader opens that.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_TEST_FUZZ_FUZZSUPPORT_H
#define MOA_TEST_FUZZ_FUZZSUPPORT_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace moa::fuzz {

/// `data` written to this process's input file; its path.
inline const std::string &asFile(const uint8_t *data, size_t size) {
  static const std::string path = [] {
    const char *dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/moa-fuzz-" +
           std::to_string(::getpid());
  }();
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file || std::fwrite(data, 1, size, file) != size ||
      std::fclose(file) != 0)
    std::abort(); // the harness, not the reader, failed
  return path;
}

} // namespace moa::fuzz

#endif // MOA_TEST_FUZZ_FUZZSUPPORT_H
