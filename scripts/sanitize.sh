#!/usr/bin/env bash
# Builds moa with AddressSanitizer and UndefinedBehaviorSanitizer (UB fatal)
# in build-sanitize/ and runs the whole lit suite with it:
#   scripts/sanitize.sh [SANITIZERS]   (default address,undefined)
# Leak detection is off: the suite runs Python and Debian's mlir-opt with the
# sanitizer runtime preloaded, and their own allocations at exit would be
# reported as leaks.
set -euo pipefail
export MOA_BUILD="${MOA_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build-sanitize}"
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cmake -G Ninja -S "$MOA_ROOT" -B "$MOA_BUILD" \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
  -DMOA_SANITIZE="${1:-address,undefined}" >/dev/null
cmake --build "$MOA_BUILD" --target check-moa
