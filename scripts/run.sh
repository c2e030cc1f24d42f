#!/usr/bin/env bash
# The README's main command: set up, build moa-opt, and run it on an example
# model: the MoA layer decomposed into moa primitives and linalg, and its cost.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_build --target moa-opt
model="${1:-$MOA_ROOT/examples/moa_layer.mlir}"
echo "== $model decomposed (moa-opt --moa-decompose --canonicalize --cse)"
"$MOA_BUILD/bin/moa-opt" "$model" --moa-decompose --canonicalize --cse
echo "== cost report (moa-opt --moa-cost)"
"$MOA_BUILD/bin/moa-opt" "$model" --moa-cost -o /dev/null
