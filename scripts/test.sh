#!/usr/bin/env bash
# The README's test command: set up, build everything, run every test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_build
cmake --build "$MOA_BUILD" --target check-moa
