//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Reads and writes .npy (format versions 1.0 to 3.0), little-endian and
// C order only. dtypes: '<f4' f32, '<f2' f16, '<i4' i32, '|b1' i1 (bool),
// and bf16 as '<V2' (ml_dtypes' bfloat16 saves so) or '<u2' (raw bits); bf16
// tensors are written as '<u2'.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_NPY_H
#define MOA_RUNTIME_NPY_H

#include "runtime/Tensor.h"

#include <optional>
#include <string>

namespace moa::runtime {

/// Reads `path`; `expected` resolves the two-byte dtypes ('<u2'/'<V2' is read
/// as bf16 when the entry expects bf16). On failure sets `error`.
std::optional<Tensor> readNpy(const std::string &path, std::string &error,
                              std::optional<DType> expected = std::nullopt);

bool writeNpy(const std::string &path, const Tensor &tensor,
              std::string &error);

} // namespace moa::runtime

#endif // MOA_RUNTIME_NPY_H
