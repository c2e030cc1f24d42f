//===- AtomicFile.cpp - Writes that cannot lose data ----------------------===//

#include "runtime/AtomicFile.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace moa::runtime {

namespace {

std::string lastError() { return std::strerror(errno); }

/// The file a write to `path` must replace: `path`, or for a symbolic link
/// the file it points to. Empty (with `error`) when that is not a regular
/// file or a new name in an existing directory.
std::string resolveTarget(const std::string &path, std::string &error) {
  struct stat link;
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno == ENOENT)
      return path; // a new file
    error = lastError();
    return "";
  }
  std::string target = path;
  if (S_ISLNK(link.st_mode)) {
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved)) {
      error = "it is a symbolic link to nothing that exists";
      return "";
    }
    target = resolved;
  }
  struct stat file;
  if (::stat(target.c_str(), &file) != 0) {
    error = lastError();
    return "";
  }
  if (!S_ISREG(file.st_mode)) {
    error = "it exists and is not a regular file";
    return "";
  }
  return target;
}

std::string directoryOf(const std::string &path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool writeAll(int fd, const void *data, size_t size) {
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0) {
      if (written == 0)
        errno = EIO;
      return false;
    }
    bytes += written;
    size -= size_t(written);
  }
  return true;
}

/// fsync of the directory, so that the rename itself is on the disk.
bool syncDirectory(const std::string &directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  const bool ok = ::fsync(fd) == 0 || errno == EINVAL;
  ::close(fd);
  return ok;
}

} // namespace

bool writeFileAtomically(const std::string &path,
                         const std::function<bool(const WriteBytes &)> &produce,
                         std::string &error) {
  auto fail = [&](const std::string &why) {
    error = "cannot write '" + path + "': " + why;
    return false;
  };
  if (path.empty())
    return fail("the path is empty");
  std::string why;
  const std::string target = resolveTarget(path, why);
  if (target.empty())
    return fail(why);
  std::vector<char> temporary(target.begin(), target.end());
  const std::string suffix = ".tmp.XXXXXX";
  temporary.insert(temporary.end(), suffix.begin(), suffix.end());
  temporary.push_back('\0');
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0)
    return fail(lastError());
  int savedErrno = 0;
  bool ok = produce([&](const void *data, size_t size) {
    if (writeAll(fd, data, size))
      return true;
    savedErrno = errno;
    return false;
  });
  // Synced before the rename: otherwise a power loss could leave the new
  // name pointing at data that never reached the disk.
  if (ok && ::fchmod(fd, 0644) != 0)
    ok = false, savedErrno = errno;
  if (ok && ::fsync(fd) != 0)
    ok = false, savedErrno = errno;
  if (::close(fd) != 0 && ok)
    ok = false, savedErrno = errno;
  if (ok && ::rename(temporary.data(), target.c_str()) != 0)
    ok = false, savedErrno = errno;
  if (!ok) {
    ::unlink(temporary.data());
    return fail(savedErrno ? std::strerror(savedErrno) : "writing failed");
  }
  if (!syncDirectory(directoryOf(target)))
    return fail("the directory could not be synced: " + lastError());
  return true;
}

std::string outputFileProblem(const std::string &path) {
  if (path.empty())
    return "cannot write '': the path is empty";
  std::string why;
  const std::string target = resolveTarget(path, why);
  if (target.empty())
    return "cannot write '" + path + "': " + why;
  if (std::string problem = outputDirectoryProblem(directoryOf(target));
      !problem.empty())
    return "cannot write '" + path + "': " + problem;
  return "";
}

std::string outputDirectoryProblem(const std::string &directory) {
  if (directory.empty())
    return "the output directory is empty";
  struct stat info;
  if (::stat(directory.c_str(), &info) != 0)
    return "output directory '" + directory + "': " + lastError();
  if (!S_ISDIR(info.st_mode))
    return "output directory '" + directory + "' is not a directory";
  if (::access(directory.c_str(), W_OK) != 0)
    return "output directory '" + directory + "': " + lastError();
  return "";
}

} // namespace moa::runtime
