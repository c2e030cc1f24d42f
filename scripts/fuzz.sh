#!/usr/bin/env bash
# libFuzzer targets (test/Fuzz) for the readers of untrusted bytes (.npy,
# safetensors, the module manifest, command-line numbers) and for moa-opt's
# pipeline (any bytes as a module: parse, verify, moa-cpu-pipeline). Each is
# built with clang's -fsanitize=fuzzer,address,undefined from moa's own
# sources (MLIR itself is linked as the tools link it; the pipeline target
# needs the generated headers of a build in $MOA_BUILD) and run from its seed
# corpus (test/Fuzz/corpus) for RUNS inputs; any crash, sanitizer report or
# broken invariant fails the script and leaves the input in
# $MOA_BUILD/fuzz/crash-*.
#   scripts/fuzz.sh [RUNS]   (default 2000, as scripts/test.sh runs it;
#                             longer runs: scripts/fuzz.sh 1000000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_install_packages clang-22 libclang-rt-22-dev
runs="${1:-2000}"
out="$MOA_BUILD/fuzz"
mkdir -p "$out"
readers="runtime/Tensor.cpp runtime/Manifest.cpp runtime/AtomicFile.cpp"
declare -A sources=(
  [npy]="runtime/Npy.cpp $readers"
  [safetensors]="runtime/SafeTensors.cpp $readers"
  [manifest]="runtime/Manifest.cpp runtime/Tensor.cpp"
  [numbers]="runtime/Numbers.cpp"
  [pipeline]="$(cd "$MOA_ROOT" && echo dialect/*.cpp passes/*.cpp \
                 lowering/*.cpp lowering/*/*.cpp runtime/Manifest.cpp \
                 runtime/Tensor.cpp)"
)
declare -A drivers=([npy]=FuzzNpy [safetensors]=FuzzSafeTensors
                    [manifest]=FuzzManifest [numbers]=FuzzNumbers
                    [pipeline]=FuzzPipeline)
targets="npy safetensors manifest numbers pipeline"

# One ninja file for all targets: objects are rebuilt only when a source or a
# header they include changed, on every core.
flags="-std=c++17 -O1 -gline-tables-only -Wno-c++20-extensions -I$MOA_ROOT"
flags+=" -I$MOA_BUILD -isystem /usr/lib/llvm-22/include"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
declare -A compiled=()
{
  echo "rule cxx"
  echo "  command = clang++-22 $flags $sanitize -fsanitize=fuzzer-no-link -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "rule link"
  echo "  command = clang++-22 $sanitize -fsanitize=fuzzer \$in -o \$out -L/usr/lib/llvm-22/lib -Wl,-rpath,/usr/lib/llvm-22/lib \$libs"
  for target in $targets; do
    objects=""
    for source in "test/Fuzz/${drivers[$target]}.cpp" ${sources[$target]}; do
      object="obj/${source%.cpp}.o"
      [[ -v compiled[$object] ]] ||
        echo "build $object: cxx $MOA_ROOT/$source"
      compiled[$object]=1
      objects+=" $object"
    done
    echo "build fuzz-$target: link$objects"
    [[ $target == pipeline ]] && echo "  libs = -lMLIR -lLLVM"
  done
} >"$out/build.ninja"
ninja -C "$out" --quiet $(printf 'fuzz-%s ' $targets)

printf '%-12s %8s %6s %8s\n' target runs cov crashes
for target in $targets; do
  corpus="$out/corpus-$target"
  mkdir -p "$corpus"
  log="$out/$target.log"
  if ! (cd "$out" && "./fuzz-$target" -runs="$runs" -seed=1 -max_len=4096 \
          "$corpus" "$MOA_ROOT/test/Fuzz/corpus/$target" >"$log" 2>&1); then
    tail -40 "$log"
    echo "fuzz: $target failed (input in $out/crash-*)" >&2
    exit 1
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-12s %8s %6s %8s\n' "$target" "$runs" "${cov:-?}" 0
done
