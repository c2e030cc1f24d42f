#!/usr/bin/env bash
# CPU benchmark of the compiled MoA layer against PyTorch eager: installs
# python3-torch, python3-numpy and a tuned BLAS (libopenblas0-pthread) from
# Debian, builds moa, and prints one table per BLAS setting, for the forward
# (bench_cpu.py) and then for a training step, forward + backward
# (bench_train_cpu.py). Record the results in bench/RESULTS.md.
#
# OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons and falls back
# to its SSE3 'Prescott' kernels; both moa and PyTorch use that OpenBLAS, so
# the table is printed with the default detection and again with the kernel
# set the CPU supports forced through OPENBLAS_CORETYPE, for both sides alike.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
moa_install_packages python3-torch python3-numpy libopenblas0-pthread
moa_build --target moa-compile moa-run
# Debian's python3-torch lives in /usr/bin/python3's dist-packages.
bench() { /usr/bin/python3 "$MOA_ROOT/bench/bench_cpu.py" --bin "$MOA_BUILD/bin" "$@"; }
# bench_train_cpu.py sets OMP_WAIT_POLICY=PASSIVE (both sides) unless given.
train() { /usr/bin/python3 "$MOA_ROOT/bench/bench_train_cpu.py" --bin "$MOA_BUILD/bin" "$@"; }

echo "== OpenBLAS with its own CPU detection"
(unset OPENBLAS_CORETYPE; bench "$@")
coretype=""
grep -qw avx512f /proc/cpuinfo && coretype=SkylakeX
[ -z "$coretype" ] && grep -qw avx2 /proc/cpuinfo && coretype=Haswell
if [ -n "$coretype" ]; then
  echo "== OpenBLAS with OPENBLAS_CORETYPE=$coretype (moa and PyTorch alike)"
  OPENBLAS_CORETYPE=$coretype bench "$@"
fi

echo "== Training step (forward + backward), OpenBLAS with its own CPU detection"
(unset OPENBLAS_CORETYPE; train "$@")
if [ -n "$coretype" ]; then
  echo "== Training step (forward + backward), OPENBLAS_CORETYPE=$coretype (moa and PyTorch alike)"
  OPENBLAS_CORETYPE=$coretype train "$@"
fi
