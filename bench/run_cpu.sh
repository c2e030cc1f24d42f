#!/usr/bin/env bash
# CPU benchmark of the compiled MoA layer against PyTorch: installs
# python3-torch, python3-numpy and a tuned BLAS (libopenblas0-pthread) from
# Debian and a current PyTorch from PyPI into a virtual environment, builds
# moa, and prints tables for the forward (bench_cpu.py) and then for a
# training step, forward + backward (bench_train_cpu.py): against Debian's
# PyTorch 1.13 eager, once per BLAS setting, then against PyPI's PyTorch,
# eager and torch.compile. Record the results in bench/RESULTS.md.
#
# moa's GEMMs are libxsmm's JIT kernels (runtime/Gemm.cpp); MOA_GEMM=openblas
# gives the OpenBLAS path they replaced. OpenBLAS 0.3.21 (Debian 12), which
# Debian's PyTorch uses, does not recognise recent Xeons and falls back to
# its SSE3 'Prescott' kernels, so its tables are printed with OpenBLAS's
# default detection and again with the kernel set the CPU supports forced
# through OPENBLAS_CORETYPE, for both sides alike: moa's default must not
# depend on it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
moa_install_packages python3-torch python3-numpy libopenblas0-pthread \
  python3-venv python3-dev
moa_build --target moa-compile moa-run moa-gemm-rates moa-generate
# A current PyTorch from PyPI (MKL and oneDNN, torch.compile: its C++ code
# needs python3-dev) in a virtual environment of its own; Debian's
# python3-torch stays as it is for the tests.
venv="${MOA_TORCH_VENV:-$MOA_ROOT/.venv-torch}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy
fi
# $1: the python to run with; the rest: the script and its arguments.
# Debian's python3-torch lives in /usr/bin/python3's dist-packages.
run_py() { local py=$1 script=$2; shift 2; "$py" "$MOA_ROOT/bench/$script" --bin "$MOA_BUILD/bin" "$@"; }
bench() { run_py /usr/bin/python3 bench_cpu.py --no-compile "$@"; }
# bench_train_cpu.py sets OMP_WAIT_POLICY=PASSIVE (both sides) unless given.
train() { run_py /usr/bin/python3 bench_train_cpu.py --no-compile "$@"; }

# Both sides' OpenMP threads sleep when idle, as the benchmark rules say
# (bench_train_cpu.py explains what spinning costs PyTorch on 2 cores).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
coretype=""
grep -qw avx512f /proc/cpuinfo && coretype=SkylakeX
[ -z "$coretype" ] && grep -qw avx2 /proc/cpuinfo && coretype=Haswell
# MOA_BENCH_GEMMS="libxsmm openblas" adds moa on OpenBLAS (the path libxsmm
# replaced) to the Debian PyTorch tables.
# $1: what runs (bench or train); the rest: its arguments.
for_each_setting() {
  local what=$1
  shift
  for gemm in ${MOA_BENCH_GEMMS:-libxsmm}; do
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
echo "== Debian's PyTorch, eager"
for_each_setting bench "$@"
for_each_setting train "$@"
# PyPI's PyTorch does not use OpenBLAS; moa's libxsmm GEMMs do not either.
echo "== PyPI's PyTorch, eager and torch.compile; OPENBLAS_CORETYPE unset"
(unset OPENBLAS_CORETYPE
 run_py "$venv/bin/python" bench_cpu.py "$@"
 run_py "$venv/bin/python" bench_train_cpu.py "$@")
# python/moa's PyTorch layer in a PyTorch training step, against the same
# model with the layer in PyTorch: Debian's eager, then PyPI's eager and
# torch.compile.
echo "== PyTorch model with moa.torch.MixtureOfAttention (bench_torch_layer.py)"
(unset OPENBLAS_CORETYPE
 run_py /usr/bin/python3 bench_torch_layer.py --no-compile "$@"
 run_py "$venv/bin/python" bench_torch_layer.py "$@")
# Decoding: moa-generate against PyPI's PyTorch eager decoding the same model
# with a KV cache (the official torch.cat way and a preallocated cache).
echo "== Decoding (bench_decode_cpu.py): PyPI's PyTorch eager"
(unset OPENBLAS_CORETYPE; run_py "$venv/bin/python" bench_decode_cpu.py "$@")
