#!/usr/bin/env bash
# Installs what moa needs from Debian's archive (skipping what is there) and
# configures and builds it. Sourced by the README's two commands.
set -euo pipefail

MOA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOA_BUILD="${MOA_BUILD:-$MOA_ROOT/build}"

moa_packages=(cmake ninja-build g++ python3 python3-numpy llvm-22-dev libmlir-22-dev
              mlir-22-tools llvm-22-tools libopenblas-dev libopenblas0-pthread
              libxsmm-dev libomp-22-dev libopenmpi-dev openmpi-bin)

# Installs the packages named (default: moa_packages) that are missing.
moa_install_packages() {
  local missing=()
  local wanted=("$@")
  [ ${#wanted[@]} -eq 0 ] && wanted=("${moa_packages[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "moa: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

moa_build() {
  cmake -G Ninja -S "$MOA_ROOT" -B "$MOA_BUILD" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit -DMOA_NATIVE=ON >/dev/null
  cmake --build "$MOA_BUILD" "$@"
}

moa_install_packages
