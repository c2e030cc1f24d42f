//===- AtomicFile.h - Writes that cannot lose data ---------*- C++ -*-===//
//
// Every file moa writes (results, checkpoints, reports) goes through
// writeFileAtomically: the bytes go to a new file next to the target, every
// write is checked, the file is synced and closed, then renamed over the
// target and the directory synced. A crash or a full disk leaves the old
// file as it was. A target that is a symbolic link is written where the link
// points (the link stays); one that exists and is not a regular file is
// refused.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_ATOMICFILE_H
#define MOA_RUNTIME_ATOMICFILE_H

#include <cstddef>
#include <functional>
#include <string>

namespace moa::runtime {

/// Appends bytes to the file being written; false (with errno) on failure.
using WriteBytes = std::function<bool(const void *data, size_t size)>;

/// Writes `path` through `produce`, which calls its argument for each run of
/// bytes and returns false as soon as one fails. On any failure returns
/// false with `error` naming the path and the cause; the target is then
/// untouched.
bool writeFileAtomically(const std::string &path,
                         const std::function<bool(const WriteBytes &)> &produce,
                         std::string &error);

/// Why a file cannot be written at `path` ("" if it can): what
/// writeFileAtomically would refuse, or a directory that is missing or not
/// writable. For checks before a long computation.
std::string outputFileProblem(const std::string &path);

/// Why `directory` cannot take output files ("" if it can): it must exist
/// and be a directory. For checks before a long computation.
std::string outputDirectoryProblem(const std::string &directory);

} // namespace moa::runtime

#endif // MOA_RUNTIME_ATOMICFILE_H
