#!/usr/bin/env bash
# The README's main command: set up, build, then compile an example MoA layer
# to a shared library and run it on random inputs (shapes, time, head usage);
# on a machine with an NVIDIA GPU (a loadable libcuda.so.1 and the CUDA
# toolkit's ptxas; MOA_GPU=0 skips this) compile it for the GPU too, run it on
# the same inputs and compare; then compile the training step of
# examples/tiny_lm.mlir and train it briefly (copy task, on the GPU too when
# there is one, then the
# character-level demo on the project's own corpus), and generate text from
# the demo with its decoder (moa-generate-decode, moa-generate).
#   scripts/run.sh [model.mlir [entry [B,T]]]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
moa_build --target moa-opt moa-compile moa-run moa-train moa-generate
model="${1:-$MOA_ROOT/examples/moa_layer.mlir}"
entry="${2:-moa_layer}"
dims="${3:-4,256}"
bin="$MOA_BUILD/bin"
out="$MOA_BUILD/examples"
mkdir -p "$out" "$out/cpu" "$out/gpu"
lib="$out/$(basename "${model%.mlir}").so"

echo "== cost of $model (moa-opt --moa-cost)"
"$bin/moa-opt" "$model" --moa-cost -o /dev/null
echo "== compile (moa-compile $model -o $lib)"
"$bin/moa-compile" "$model" -o "$lib"
"$bin/moa-run" "$lib" --list
echo "== run $entry on random inputs, dynamic sizes $dims (moa-run --repeat 10)"
"$bin/moa-run" "$lib" "$entry" --random --seed 1 --dims "$dims" --repeat 10 \
  -o "$out/cpu"

cuda_home="${CUDA_HOME:-/usr/local/cuda}"
gpu=0
if [[ "${MOA_GPU:-1}" != 0 ]] && [[ -x "$cuda_home/bin/ptxas" ]] &&
  python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
  gpu_lib="${lib%.so}.cuda.so"
  echo "== GPU: compile for sm_90a (moa-compile --target=cuda) and run on the same inputs"
  CUDA_HOME="$cuda_home" "$bin/moa-compile" "$model" --target=cuda -o "$gpu_lib"
  "$bin/moa-run" "$gpu_lib" "$entry" --random --seed 1 --dims "$dims" --repeat 10 \
    -o "$out/gpu"
  /usr/bin/python3 "$MOA_ROOT/scripts/compare_npy.py" "$out/cpu" "$out/gpu"
  gpu=1
else
  echo "== no GPU here (libcuda.so.1 and ptxas): the layer ran on the CPU only"
fi

lm="$out/tiny_lm.so"
echo "== training: compile the train step of examples/tiny_lm.mlir (moa-generate-train-step)"
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" -o "$lm" \
  --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
echo "== train on the copy task (moa-train, 300 steps)"
"$bin/moa-train" "$lm" --task copy --steps 300 --log-every 50 \
  --checkpoint "$out/tiny_lm_copy.safetensors" --report "$out/tiny_lm_copy.svg"
if [[ "$gpu" == 1 ]]; then
  echo "== GPU: the same training step compiled for the GPU, 300 steps of the copy task"
  CUDA_HOME="$cuda_home" "$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" \
    --target=cuda -o "${lm%.so}.cuda.so" \
    --pre-pipeline='moa-generate-train-step{lr=3e-3 warmup-steps=50}'
  "$bin/moa-train" "${lm%.so}.cuda.so" --task copy --steps 300 --log-every 50
fi
echo "== train the character-level demo on examples/data/corpus.txt (400 steps)"
"$bin/moa-train" "$lm" --task text --text "$MOA_ROOT/examples/data/corpus.txt" \
  --length 48 --steps 400 --log-every 100 --report "$out/tiny_lm_text.svg" \
  --checkpoint "$out/tiny_lm_text.safetensors"
echo "== generate: compile the decoder of examples/tiny_lm.mlir (moa-generate-decode)"
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" -o "$out/tiny_lm_decode.so" \
  --pre-pipeline='moa-generate-decode{max-length=64}'
echo "== continue two prompts from the text demo's checkpoint (greedy)"
printf 'her sister \nthe miller\n' > "$out/prompts.txt"
"$bin/moa-generate" "$out/tiny_lm_decode.so" \
  --checkpoint "$out/tiny_lm_text.safetensors" \
  --text "$MOA_ROOT/examples/data/corpus.txt" --prompts "$out/prompts.txt" \
  --max-new-tokens 40
