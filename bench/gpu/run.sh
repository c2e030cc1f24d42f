#!/usr/bin/env bash
# The one GPU script, for the device machine, with bench/gpu/bundle carried
# (bench/gpu/bundle.sh prepares it where LLVM is): the GPU tests (the 29
# layer configurations and a decoding step against the double-precision
# reference, tiny_lm trained on the GPU against the CPU's run, over NCCL
# where mpirun exists and in mixed precision, its state on the device), the layer's call on device tensors
# against its whole call, then the forward and the training-step benchmarks
# against PyTorch, a table each. Results go to $OUT too when it is set.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$root/bench/gpu/bundle"
out="${OUT:-/tmp/moa-gpu}"
mkdir -p "$out"
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L || true

echo "== GPU tests: 29 layer configurations (f32 within 1e-5, bf16/f16 within 2e-2)"
"$bundle/bin/moa-layer-test" - "$bundle/tests" --cuda --prebuilt 2>&1 |
  tee "$out/tests.txt"
tests=${PIPESTATUS[0]}
echo "== GPU tests: a decoding step (cache ops, split-KV) against float64"
work=$(mktemp -d)
for args in "1 1 0" "3 5 0,7,100" "1 1 298" "4 1 5,130,255,299"; do
  python3 "$root/test/GPU/Inputs/decode_check.py" "$bundle/bin/moa-run" \
    "$bundle/tests/decode.so" "$work" $args || tests=1
done
python3 "$root/test/GPU/Inputs/decode_check.py" "$bundle/bin/moa-run" \
  "$bundle/tests/decode-bf16.so" "$work" 3 2 0,40,200 bf16 || tests=1

echo "== GPU training: tiny_lm, 300 steps of the copy task, against the CPU's run"
"$bundle/bin/moa-train" "$bundle/tests/tiny_lm_train.cuda.so" --task copy \
  --steps 300 --log-every 1 --seed 3 --checkpoint "$work/tiny_lm_gpu.safetensors" |
  tail -3 | tee "$out/train.txt"
echo "CPU (bundle.sh):"; cat "$bundle/tests/tiny_lm_cpu.txt"
python3 "$root/test/Training/Inputs/compare_runs.py" \
  "$bundle/tests/tiny_lm_cpu.safetensors" "$work/tiny_lm_gpu.safetensors" 20 1e-4 1e-2 |
  tee -a "$out/train.txt" || tests=1

echo "== GPU training in mixed precision (bf16): tiny_lm, 300 steps, >= 95% held out"
"$bundle/bin/moa-train" "$bundle/tests/tiny_lm_train_bf16.cuda.so" --task copy \
  --steps 300 --log-every 100 --seed 3 --min-accuracy 0.95 |
  tail -3 | tee -a "$out/train.txt"
[ "${PIPESTATUS[0]}" = 0 ] || tests=1

echo "== GPU data parallel: tiny_lm's step over NCCL (1 rank) against the run above"
# NCCL from the library path, else PyTorch's (pip's nvidia-nccl), which the
# bundle does not carry (200 MiB); the module needs Open MPI (mpirun).
nccl=$(python3 -c 'import nvidia.nccl, os
print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
if command -v mpirun >/dev/null; then
  MOA_NCCL_LIBRARY="${MOA_NCCL_LIBRARY:-$nccl}" mpirun --allow-run-as-root -np 1 \
    "$bundle/bin/moa-train" "$bundle/tests/tiny_lm_train_dp1.cuda.so" --task copy \
    --steps 300 --log-every 100 --seed 3 --checkpoint "$work/tiny_lm_dp1.safetensors" |
    tail -2 | tee -a "$out/train.txt"
  python3 "$root/test/Training/Inputs/compare_runs.py" "$work/tiny_lm_gpu.safetensors" \
    "$work/tiny_lm_dp1.safetensors" 300 1e-5 1e-5 | tee -a "$out/train.txt" || tests=1
else
  echo "no mpirun on this machine: the NCCL all-reduce is not checked" |
    tee -a "$out/train.txt"
fi

echo "== the layer on device tensors (moa-run --device): the call vs the whole call"
for so in "$bundle"/models/*.so; do
  name=$(basename "$so" .so)
  dims=$(echo "$name" | sed -E 's/.*-B([0-9]+)-T([0-9]+)-.*/\1,\2/')
  "$bundle/bin/moa-run" "$so" moa_layer --random --dims "$dims" --repeat 20 \
    --device | grep "time on device" | sed "s/^/$name: /" |
    tee -a "$out/device.txt"
done

echo "== forward: moa against PyTorch (official algorithm, and dense equal compute)"
PYTHONUNBUFFERED=1 python3 "$root/bench/gpu/bench_gpu.py" \
  --run "$bundle/bin/moa-run" --models "$bundle/models" "$@" 2>&1 |
  tee "$out/bench.txt"
bench=${PIPESTATUS[0]}

echo "== training step: moa against PyTorch (official algorithm, and dense equal compute)"
PYTHONUNBUFFERED=1 python3 "$root/bench/gpu/bench_gpu_train.py" \
  --run "$bundle/bin/moa-run" --models "$bundle/train" "$@" 2>&1 |
  tee "$out/bench-train.txt"
train=${PIPESTATUS[0]}
exit $((tests || bench || train))
