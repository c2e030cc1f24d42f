#!/usr/bin/env bash
# The README's main command: set up, build, then compile an example MoA layer
# to a shared library and run it on random inputs (shapes, time, head usage).
#   scripts/run.sh [model.mlir [entry [B,T]]]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_build --target moa-opt moa-compile moa-run
model="${1:-$MOA_ROOT/examples/moa_layer.mlir}"
entry="${2:-moa_layer}"
dims="${3:-4,256}"
bin="$MOA_BUILD/bin"
out="$MOA_BUILD/examples"
mkdir -p "$out"
lib="$out/$(basename "${model%.mlir}").so"

echo "== cost of $model (moa-opt --moa-cost)"
"$bin/moa-opt" "$model" --moa-cost -o /dev/null
echo "== compile (moa-compile $model -o $lib)"
"$bin/moa-compile" "$model" -o "$lib"
"$bin/moa-run" "$lib" --list
echo "== run $entry on random inputs, dynamic sizes $dims (moa-run --repeat 10)"
"$bin/moa-run" "$lib" "$entry" --random --dims "$dims" --repeat 10
