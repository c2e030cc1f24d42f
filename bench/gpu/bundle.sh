#!/usr/bin/env bash
# Prepares bench/gpu/bundle/ HERE (the GPU machine has no LLVM to compile
# with): builds moa, compiles the 29 test configurations, a decoding step,
# tiny_lm's training step (also data parallel over one rank) and the
# benchmark layers (forward, and training step) for sm_90a, prints the ptxas register/spill report, and copies the
# binaries and the shared libraries they need. bench/gpu/run.sh then runs on
# the GPU machine with the bundle carried:
#   bench/gpu/bundle.sh
#   device run, carry bench/gpu/bundle:  bench/gpu/run.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup.sh"
moa_build --target moa-compile moa-run moa-train moa-layer-test MoACudaRuntime
bundle="$MOA_ROOT/bench/gpu/bundle"
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/tests" "$bundle/models" "$bundle/train"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
bin="$MOA_BUILD/bin"

echo "== compile the 29 layer configurations for the GPU"
"$bin/moa-layer-test" "$bin/moa-compile" "$bundle/tests" --cuda --compile-only |
  tail -1
echo "== compile the decoding step (cache ops, split-KV), f32 and bf16"
"$bin/moa-compile" "$MOA_ROOT/test/GPU/Inputs/decode-step.mlir" --target=cuda \
  -o "$bundle/tests/decode.so"
sed 's/f32/bf16/g' "$MOA_ROOT/test/GPU/Inputs/decode-step.mlir" >"$bundle/tests/decode-bf16.mlir"
"$bin/moa-compile" "$bundle/tests/decode-bf16.mlir" --target=cuda \
  -o "$bundle/tests/decode-bf16.so"
echo "== tiny_lm's training step for the GPU, and the CPU's run to compare with"
step='moa-generate-train-step{lr=3e-3 warmup-steps=50 max-grad-norm=1.0}'
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" --target=cuda \
  --pre-pipeline="$step" -o "$bundle/tests/tiny_lm_train.cuda.so"
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" --pre-pipeline="$step" \
  -o "$bundle/tests/tiny_lm_train.so"
"$bin/moa-train" "$bundle/tests/tiny_lm_train.so" --task copy --steps 300 \
  --log-every 1 --seed 3 --checkpoint "$bundle/tests/tiny_lm_cpu.safetensors" |
  tail -3 | tee "$bundle/tests/tiny_lm_cpu.txt"
echo "== tiny_lm's training step made data parallel (1 rank, NCCL) for the GPU"
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" --target=cuda \
  --pre-pipeline="$step,moa-data-parallel{axis-size=1}" \
  -o "$bundle/tests/tiny_lm_train_dp1.cuda.so"
echo "== tiny_lm's training step in mixed precision (bf16) for the GPU"
"$bin/moa-compile" "$MOA_ROOT/examples/tiny_lm.mlir" --target=cuda \
  --pre-pipeline="${step%\}} mixed-precision=bf16}" \
  -o "$bundle/tests/tiny_lm_train_bf16.cuda.so"
echo "== compile the benchmark layers"
/usr/bin/python3 "$MOA_ROOT/bench/gpu/bench_gpu.py" --compile "$bin/moa-compile" \
  --models "$bundle/models"
echo "== the emulator's MODEL of the benchmark layers (run.sh sets it against the device)"
/usr/bin/python3 "$MOA_ROOT/bench/gpu/bench_gpu.py" --model --compile "$bin/moa-compile" \
  --run "$bin/moa-run" --models "$bundle/model-work"
cp "$bundle/model-work/model.json" "$bundle/models/"
rm -rf "$bundle/model-work"
echo "== compile the benchmark layers' training steps"
/usr/bin/python3 "$MOA_ROOT/bench/gpu/bench_gpu_train.py" --compile "$bin/moa-compile" \
  --models "$bundle/train"
echo "== ptxas: registers and spills of the benchmark kernels"
/usr/bin/python3 "$MOA_ROOT/bench/gpu/ptxas_report.py" "$bin/moa-compile" \
  "$bundle"/models/*.mlir --chips sm_90a

cp "$bin/moa-run" "$bin/moa-train" "$bin/moa-layer-test" "$bundle/bin/"
cp "$MOA_BUILD/lib/libMoARuntime.so" "$MOA_BUILD/lib/libMoACudaRuntime.so" \
  "$bundle/lib/"
# libMoARuntime's own dependencies, which that machine's image lacks.
for dep in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
  cp -L "$(ldd "$MOA_BUILD/lib/libMoARuntime.so" | awk -v d="$dep" '$1 == d {print $3}')" \
    "$bundle/lib/$dep"
done
du -sh "$bundle"
