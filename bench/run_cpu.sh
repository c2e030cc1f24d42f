#!/usr/bin/env bash
# CPU benchmark of the compiled MoA layer against PyTorch eager: installs
# python3-torch, python3-numpy and a tuned BLAS (libopenblas0-pthread) from
# Debian, builds moa, and prints one table per BLAS setting, for the forward
# (bench_cpu.py) and then for a training step, forward + backward
# (bench_train_cpu.py). Record the results in bench/RESULTS.md.
#
# moa's GEMMs are libxsmm's JIT kernels (runtime/Gemm.cpp); MOA_GEMM=openblas
# gives the OpenBLAS path they replaced. OpenBLAS 0.3.21 (Debian 12), which
# PyTorch uses, does not recognise recent Xeons and falls back to its SSE3
# 'Prescott' kernels, so every table is printed with OpenBLAS's default
# detection and again with the kernel set the CPU supports forced through
# OPENBLAS_CORETYPE, for both sides alike: moa's default must not depend on it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
moa_install_packages python3-torch python3-numpy libopenblas0-pthread
moa_build --target moa-compile moa-run moa-gemm-rates
# Debian's python3-torch lives in /usr/bin/python3's dist-packages.
bench() { /usr/bin/python3 "$MOA_ROOT/bench/bench_cpu.py" --bin "$MOA_BUILD/bin" "$@"; }
# bench_train_cpu.py sets OMP_WAIT_POLICY=PASSIVE (both sides) unless given.
train() { /usr/bin/python3 "$MOA_ROOT/bench/bench_train_cpu.py" --bin "$MOA_BUILD/bin" "$@"; }

# Both sides' OpenMP threads sleep when idle, as the benchmark rules say
# (bench_train_cpu.py explains what spinning costs PyTorch on 2 cores).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
coretype=""
grep -qw avx512f /proc/cpuinfo && coretype=SkylakeX
[ -z "$coretype" ] && grep -qw avx2 /proc/cpuinfo && coretype=Haswell
# $1: what runs (bench or train); the rest: its arguments.
for_each_setting() {
  local what=$1
  shift
  for gemm in libxsmm openblas; do
    local moa_gemm=""
    [ $gemm = openblas ] && moa_gemm=openblas
    echo "== $what: moa GEMMs by $gemm; OpenBLAS with its own CPU detection"
    (unset OPENBLAS_CORETYPE; MOA_GEMM=$moa_gemm $what "$@")
    if [ -n "$coretype" ]; then
      echo "== $what: moa GEMMs by $gemm; OPENBLAS_CORETYPE=$coretype (moa and PyTorch alike)"
      OPENBLAS_CORETYPE=$coretype MOA_GEMM=$moa_gemm $what "$@"
    fi
  done
}
echo "== Single-thread GEMM rates at the layers' tile shapes (the ceiling)"
(unset OPENBLAS_CORETYPE; "$MOA_BUILD/bin/moa-gemm-rates")
if [ -n "$coretype" ]; then
  echo "== The same, OPENBLAS_CORETYPE=$coretype"
  OPENBLAS_CORETYPE=$coretype "$MOA_BUILD/bin/moa-gemm-rates"
fi
for_each_setting bench "$@"
for_each_setting train "$@"
