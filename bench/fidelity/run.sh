#!/usr/bin/env bash
# MoA against multi-head attention at equal compute on held-out text: builds
# moa, installs Debian's bible-kjv, splits it by book (make_corpus.py), and
# trains the model family of fidelity.py (MHA; MoA at the same MACs per
# token; more experts at k = 2; a k = 4 point) with moa-train, seeds 1-3.
# Prints the table; the full run also records it and the SVG of the curves
# in bench/RESULTS.md and bench/fidelity/fidelity.svg.
#
#   bench/fidelity/run.sh           the full run (about 35 minutes on 2 idle cores)
#   bench/fidelity/run.sh --quick   the plumbing in under 5 minutes (tests)
#   bench/fidelity/run.sh --lr 1e-3 --only "E=8 k=2" --seeds 1
#                                   other points (a learning-rate sweep);
#                                   give each its own MOA_FIDELITY_WORK
#
# Runs resume from their checkpoints in $MOA_FIDELITY_WORK (default
# build/fidelity[-quick]): rerun after an interruption to continue.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup.sh"
moa_install_packages bible-kjv
quick=""
[ "${1:-}" = "--quick" ] && quick="--quick" && shift
moa_build --target moa-compile moa-train moa-opt >/dev/null
work="${MOA_FIDELITY_WORK:-$MOA_BUILD/fidelity${quick:+-quick}}"
corpus="$work/corpus"
[ -f "$corpus/heldout.txt" ] || python3 "$MOA_ROOT/bench/fidelity/make_corpus.py" "$corpus"
python3 "$MOA_ROOT/bench/fidelity/make_corpus.py" --check "$corpus"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
python3 "$MOA_ROOT/bench/fidelity/fidelity.py" --bin "$MOA_BUILD/bin" \
  --work "$work" --corpus "$corpus" $quick "$@"
if [ -z "$quick" ] && [ $# -eq 0 ]; then
  cp "$work/fidelity.svg" "$MOA_ROOT/bench/fidelity/fidelity.svg"
  echo "table: $work/table.md; curves: bench/fidelity/fidelity.svg"
fi
