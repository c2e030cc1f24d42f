//===- SafeTensors.h - safetensors checkpoints ------------------*- C++ -*-===//
//
// Reads and writes the safetensors format
// (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// size N, N bytes of JSON
//
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
//    "__metadata__": {"key": "value", ...}}
//
// padded with spaces to a multiple of 8, then the raw little-endian bytes,
// offsets relative to the end of the header. dtypes: F32, F16, BF16, I32 and
// BOOL (i1, one byte per element). Like .npy files, the data is copied as is,
// so the host must be little-endian.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_SAFETENSORS_H
#define MOA_RUNTIME_SAFETENSORS_H

#include "runtime/Tensor.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moa::runtime {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// Writes `tensors`, in the order given, and the string-to-string `metadata`
/// to `path`. The file is written as `path` + ".tmp", synced and renamed, so
/// that a crash leaves either the old checkpoint or the new one, never a
/// truncated one. Names must be unique and not "__metadata__". On failure
/// sets `error`.
bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error);

/// Reads the whole of `path`: the tensors in the order of the header, and
/// its "__metadata__" (empty if there is none). The header is validated
/// before anything is allocated: JSON syntax, known dtypes, shapes, offsets
/// within the file, each tensor's byte count against its shape, and that
/// the tensors neither overlap nor leave holes (as the format requires). On
/// failure returns nullopt and sets `error`, which names the file.
std::optional<std::vector<NamedTensor>>
readSafetensors(const std::string &path,
                std::map<std::string, std::string> &metadata,
                std::string &error);

} // namespace moa::runtime

#endif // MOA_RUNTIME_SAFETENSORS_H
