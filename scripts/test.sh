#!/usr/bin/env bash
# The README's test command: set up, build everything, run every test, then
# the fuzz targets for a short fixed number of inputs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# The tests of python/moa's PyTorch layer (test/Python) use Debian's
# PyTorch; the fidelity benchmark's quick mode reads Debian's bible-kjv.
moa_install_packages python3-torch bible-kjv
moa_build
cmake --build "$MOA_BUILD" --target check-moa
# The fuzz targets of the readers, a few thousand inputs each (test/Fuzz).
"$MOA_ROOT/scripts/fuzz.sh" 2000
