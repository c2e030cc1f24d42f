//===- Symbols.h - Functions found in libraries opened at run time -*- C++
//-*-===//
//
// The runtime opens the CUDA driver, NCCL and MPI with dlopen, so that its
// binaries start on machines without them; this binds their functions.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_SYMBOLS_H
#define MOA_RUNTIME_SYMBOLS_H

#include <dlfcn.h>

namespace moa::runtime {

/// `slot` = the function `name` of `library` (a dlopen handle, which also
/// searches its dependencies); false if it has none.
template <typename F>
bool bindSymbol(void *library, F &slot, const char *name) {
  slot = reinterpret_cast<F>(dlsym(library, name));
  return slot != nullptr;
}

} // namespace moa::runtime

#endif // MOA_RUNTIME_SYMBOLS_H
