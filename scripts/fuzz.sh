#!/usr/bin/env bash
# libFuzzer targets for the readers of untrusted bytes (test/Fuzz: .npy,
# safetensors, the module manifest, command-line numbers). Each is built with
# clang's -fsanitize=fuzzer,address,undefined from the reader's own sources
# and run from its seed corpus (test/Fuzz/corpus) for RUNS inputs; any crash,
# sanitizer report or broken invariant fails the script and leaves the input
# in $MOA_BUILD/fuzz/crash-*.
#   scripts/fuzz.sh [RUNS]   (default 2000, as scripts/test.sh runs it;
#                             longer runs: scripts/fuzz.sh 1000000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_install_packages clang-22 libclang-rt-22-dev
runs="${1:-2000}"
out="$MOA_BUILD/fuzz"
mkdir -p "$out"
declare -A sources=(
  [npy]="runtime/Npy.cpp runtime/Tensor.cpp runtime/Manifest.cpp runtime/AtomicFile.cpp"
  [safetensors]="runtime/SafeTensors.cpp runtime/Tensor.cpp runtime/Manifest.cpp runtime/AtomicFile.cpp"
  [manifest]="runtime/Manifest.cpp runtime/Tensor.cpp"
  [numbers]="runtime/Numbers.cpp"
)
declare -A drivers=([npy]=FuzzNpy [safetensors]=FuzzSafeTensors
                    [manifest]=FuzzManifest [numbers]=FuzzNumbers)
printf '%-12s %8s %6s %8s\n' target runs cov crashes
for target in npy safetensors manifest numbers; do
  binary="$out/fuzz-$target"
  (cd "$MOA_ROOT" && clang++-22 -std=c++17 -O1 -g -I. \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "test/Fuzz/${drivers[$target]}.cpp" ${sources[$target]} -o "$binary")
  corpus="$out/corpus-$target"
  mkdir -p "$corpus"
  log="$out/$target.log"
  if ! (cd "$out" && "$binary" -runs="$runs" -seed=1 -max_len=4096 \
          "$corpus" "$MOA_ROOT/test/Fuzz/corpus/$target" >"$log" 2>&1); then
    tail -40 "$log"
    echo "fuzz: $target failed (input in $out/crash-*)" >&2
    exit 1
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-12s %8s %6s %8s\n' "$target" "$runs" "${cov:-?}" 0
done
