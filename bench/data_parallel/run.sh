#!/usr/bin/env bash
# Data-parallel training on the CPU (moa-data-parallel over Open MPI): step
# time for one process and for two ranks, the all-reduce's share of the
# step, and the all-reduce against PyTorch's gloo (Debian's python3-torch),
# in one run. Record the table in bench/RESULTS.md. Options go to
# bench_data_parallel.py (--layers, --d, --batch, --length, --steps).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup.sh"
moa_install_packages python3-torch python3-numpy
moa_build --target moa-compile moa-run moa-train moa-opt
/usr/bin/python3 "$MOA_ROOT/bench/data_parallel/bench_data_parallel.py" \
  --bin "$MOA_BUILD/bin" "$@"
