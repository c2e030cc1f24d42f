#!/usr/bin/env bash
# CPU benchmark of the compiled MoA layer against PyTorch eager: installs
# python3-torch, python3-numpy and a tuned BLAS (libopenblas0-pthread) from
# Debian, builds moa, and prints one table. Results go in bench/RESULTS.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
moa_install_packages python3-torch python3-numpy libopenblas0-pthread
moa_build --target moa-compile moa-run
# Debian's python3-torch lives in /usr/bin/python3's dist-packages.
exec /usr/bin/python3 "$MOA_ROOT/bench/bench_cpu.py" --bin "$MOA_BUILD/bin" "$@"
