//===- Manifest.h - The entry-point manifest of a compiled module -*- C++
//-*-===//
//
// A compiled module describes its public functions in a small text format,
// embedded as the global `moa_manifest`:
//
//   moa-manifest 2
//   [ranks <N>]
//   entry <name> <number of arguments> <number of results>
//   arg <dtype> <rank> <size or ?>... [name=<name>] [init=<init>]
//   result <dtype> <rank> <size or ?>... [name=<name>] [tied=<argument>]
//
// A tied result is returned in the buffer of the argument it names, which
// the caller donates: the entry updates it in place (moa.tied).
// `ranks` marks a data-parallel module (moa-data-parallel): its entries
// all-reduce over the N processes of an MPI job.
// dtype is one of f32 f16 bf16 i32 i1. Written by moa-export-entry-points,
// read by the runtime; both use these declarations.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_MANIFEST_H
#define MOA_RUNTIME_MANIFEST_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moa {

/// The manifest's version, raised whenever what generated code calls in the
/// runtime changes, so that a module compiled earlier is refused with a
/// message rather than called with the wrong arguments (2: moa_rt_sgemm
/// takes next_B).
constexpr int kManifestVersion = 2;

enum class DType { F32, F16, BF16, I32, I1 };

/// "f32", "f16", ...
const char *dtypeName(DType dtype);
std::optional<DType> parseDType(const std::string &name);
/// Bytes per element in memory (i1 is one byte).
int64_t dtypeSize(DType dtype);

struct TensorSpec {
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // -1 for a dynamic dimension
  /// From the moa.name / moa.init attributes of the function (may be empty;
  /// never contain white space).
  std::string name;
  std::string init;
  /// For a result: the argument whose buffer it is returned in, or -1.
  int64_t tied = -1;
};

struct EntrySpec {
  std::string name;
  std::vector<TensorSpec> arguments;
  std::vector<TensorSpec> results;
};

struct Manifest {
  std::vector<EntrySpec> entries;
  /// MPI ranks a data-parallel module's collectives expect; 0 if it has none.
  int64_t ranks = 0;

  std::string print() const;
  /// Parses `text`; on failure returns nullopt and sets `error`.
  static std::optional<Manifest> parse(const std::string &text,
                                       std::string &error);
};

} // namespace moa

#endif // MOA_RUNTIME_MANIFEST_H
