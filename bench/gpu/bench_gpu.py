#!/usr/bin/env python3
"""GPU benchmark: the compiled MoA layer (forward) against PyTorch on the same
inputs in the same run.

Two steps, on two machines:
  --compile MOA_COMPILE --models DIR   (where LLVM is; bench/gpu/bundle.sh)
      writes each configuration's layer module and compiles it for sm_90a;
  --run MOA_RUN --models DIR           (on the GPU machine; bench/gpu/run.sh)
      draws the inputs, runs the module with moa-run (MOA_CUDA_TIMING gives
      the span of its kernels per call: the layer on the device, without the
      entry's copies between host and device), runs (a) PyTorch eager on the
      official algorithm (bench/moa_torch.py) and (b) a dense layer of equal
      compute (a Q projection to k*h, scaled_dot_product_attention with k
      query heads sharing one K/V head, an O projection from k*h), checks that
      moa and (a) agree, and prints time, TFLOP/s and ratios as one table.
  --model --compile MOA_COMPILE --run MOA_RUN --models DIR   (where LLVM is)
      the emulator's kernel profile of each configuration as an H200
      roofline model (profile_model.py): a model, not a measurement.
Goals from the issue: moa at least 3x faster than (a), and within 1.25x of (b).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from layer_common import (from_bf16_bits, layer_inputs, macs,  # noqa: E402
                          module_text, to_bf16_bits)

CONFIGS = [
    # name, B, T, d, E, k, h, dtype
    ("bf16-B8-T2048-d1024-E32-k4-h128", 8, 2048, 1024, 32, 4, 128, "bf16"),
    ("bf16-B32-T512-d512-E8-k2-h64", 32, 512, 512, 8, 2, 64, "bf16"),
    ("f32-B32-T512-d512-E8-k2-h64", 32, 512, 512, 8, 2, 64, "f32"),
]
# --small: a dry run of this script without a GPU (modules compiled with
# --emulate-gpu, PyTorch on the CPU); its times mean nothing.
SMALL = [
    ("bf16-B2-T96-d64-E4-k2-h32", 2, 96, 64, 4, 2, 32, "bf16"),
    ("f32-B2-T96-d64-E4-k2-h32", 2, 96, 64, 4, 2, 32, "f32"),
]


def compile_models(compiler, models, configs, extra):
    os.makedirs(models, exist_ok=True)
    for name, B, T, d, E, k, h, dtype in configs:
        base = os.path.join(models, name)
        with open(base + ".mlir", "w") as f:
            f.write(module_text(d, E, k, h, dtype))
        subprocess.run([compiler, base + ".mlir", "--target=cuda", *extra,
                        "-o", base + ".so"], check=True)
        print(f"compiled {name}")


def device_ms(fn, repeat, device):
    """Median ms of fn() (CUDA events on a GPU), after one warm-up call."""
    import time
    import torch
    fn()
    times = []
    for _ in range(repeat):
        if device.type != "cuda":
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
            continue
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def dense_layer(x, w_query, w_key, w_value, w_out, k):
    """Equal compute without routing: Q to k*h, SDPA with k query heads on one
    K/V head, O from k*h."""
    import torch
    B, T, _ = x.shape
    h = w_key.shape[1]
    q = (x @ w_query).view(B, T, k, h).transpose(1, 2)
    key = (x @ w_key).unsqueeze(1).expand(B, k, T, h)
    value = (x @ w_value).unsqueeze(1).expand(B, k, T, h)
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa:
        attention = sdpa(q, key, value)
    else:  # PyTorch < 2.0 (the --small dry run on Debian's)
        scores = (q @ key.transpose(-1, -2)) * h ** -0.5
        attention = scores.softmax(-1) @ value
    return attention.transpose(1, 2).reshape(B, T, k * h) @ w_out


def dense_weights(w_query, w_out, k):
    """The dense peer's Q [d, k*h] and O [k*h, d]: k of the E experts'
    (equal compute); torch tensors or NumPy arrays."""
    _, d, h = w_query.shape
    q = w_query[:k]
    q = q.permute(1, 0, 2) if hasattr(q, "permute") else q.transpose(1, 0, 2)
    return q.reshape(d, k * h), w_out[:k].reshape(k * h, d)


def torch_device(device_name):
    """PyTorch's device for a benchmark (TF32 off: f32 means f32), and how
    to name it in the table's title."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(device_name)
    where = (torch.cuda.get_device_name() if device.type == "cuda"
             else "CPU (dry run: times mean nothing)")
    return device, f"torch {torch.__version__}, {where}"


def timed_moa_run(moa_run, args, timing):
    """moa-run with `args`, its CUDA timing written to `timing`: (result,
    moa ms, call ms), moa ms the median span of the layer's kernels by CUDA
    events (the first call, a warm-up, left out), or the whole call where
    there are no events (not the CUDA runtime: a dry run); the times are
    None if moa-run failed."""
    if os.path.exists(timing):
        os.remove(timing)
    result = subprocess.run([moa_run, *args],
                            env=dict(os.environ, MOA_CUDA_TIMING=timing),
                            capture_output=True, text=True)
    if result.returncode != 0:
        return result, None, None
    call_ms = float(re.search(r"time: ([0-9.]+) ms", result.stdout).group(1))
    if not os.path.exists(timing):
        return result, call_ms, call_ms
    with open(timing) as f:
        spans = [float(line.split()[1]) for line in f]
    return result, statistics.median(spans[1:] or spans), call_ms


def run_models(moa_run, models, repeat, configs, device_name):
    import torch
    from moa_torch import moa_layer
    device, where = torch_device(device_name)
    print(f"{where}; median of {repeat} runs each; forward only (the "
          f"training step: bench_gpu_train.py)")
    header = (f"{'config':34} {'moa ms':>8} {'call ms':>8} {'(a) ms':>8} "
              f"{'(b) ms':>8} {'moa TF/s':>8} {'a/moa':>6} {'moa/b':>6} "
              f"{'rel err':>8}")
    print(header)
    print("-" * len(header))
    ok = True
    with tempfile.TemporaryDirectory() as work:
        for name, B, T, d, E, k, h, dtype in configs:
            bf16 = dtype == "bf16"
            inputs = layer_inputs(np.random.default_rng(0), B, T, d, E, h)
            if bf16:  # both sides get the same bf16-rounded values
                inputs = [a if i == 1 else from_bf16_bits(to_bf16_bits(a))
                          for i, a in enumerate(inputs)]
            paths = []
            for i, a in enumerate(inputs):
                paths.append(os.path.join(work, f"{name}.in{i}.npy"))
                np.save(paths[-1], to_bf16_bits(a) if bf16 and i != 1 else a)
            out_dir = os.path.join(work, name + ".out")
            os.makedirs(out_dir, exist_ok=True)
            result, moa_ms, call_ms = timed_moa_run(
                moa_run, [os.path.join(models, name + ".so"), "moa_layer",
                          *paths, "--repeat", str(repeat), "-o", out_dir],
                os.path.join(work, name + ".timing"))
            if result.returncode != 0:
                print(f"{name}: moa-run failed: {result.stderr.strip()}")
                ok = False
                continue
            out = np.load(os.path.join(out_dir, "out0.npy"))
            out = from_bf16_bits(out) if bf16 else out

            tensors = [torch.from_numpy(a).to(device) for a in inputs]
            if bf16:
                tensors = [t if i == 1 else t.to(torch.bfloat16)
                           for i, t in enumerate(tensors)]
            x, w_gate, w_query, w_key, w_value, w_out = tensors
            with torch.no_grad():
                reference = moa_layer(*tensors, k)
                a_ms = device_ms(lambda: moa_layer(*tensors, k), repeat,
                                 device)
                wq_dense, wo_dense = dense_weights(w_query, w_out, k)
                b_ms = device_ms(lambda: dense_layer(x, wq_dense, w_key,
                                                     w_value, wo_dense, k),
                                 repeat, device)
            reference = reference.float().cpu().numpy()
            error = float(np.abs(out - reference).max() /
                          np.abs(reference).max())
            agree = error < (2e-2 if bf16 else 1e-4)
            ok &= agree
            tflops = 2 * macs(B, T, d, E, k, h) / (moa_ms * 1e-3) / 1e12
            print(f"{name:34} {moa_ms:8.3f} {call_ms:8.2f} {a_ms:8.3f} "
                  f"{b_ms:8.3f} {tflops:8.1f} {a_ms / moa_ms:6.2f} "
                  f"{moa_ms / b_ms:6.2f} {error:8.1e}"
                  f"{'' if agree else '  DISAGREE'}")
    print("moa ms: span of the layer's kernels (CUDA events); call ms: the "
          "whole moa-run call with its host-device copies; goals: a/moa >= 3, "
          "moa/b <= 1.25")
    from profile_model import calibrate
    calibrate(moa_run, models, repeat)
    return 0 if ok else 1


def two_step_main(configs, small, compile_models, run_models, model=None):
    """The command line of a GPU benchmark: --compile where LLVM is, --run
    on the GPU machine, --small for a dry run of both without a GPU;
    --model with both, where LLVM is, for `model`'s estimate."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--compile", help="moa-compile, to compile the models")
    parser.add_argument("--run", help="moa-run, to run the benchmark")
    if model:
        parser.add_argument("--model", action="store_true",
                            help="with --compile and --run: the emulator's "
                            "profile of each configuration as an H200 "
                            "roofline MODEL (profile_model.py)")
    parser.add_argument("--models", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--small", action="store_true",
                        help="a dry run without a GPU: small layers, kernels "
                        "emulated, PyTorch on the CPU")
    args = parser.parse_args()
    chosen = small if args.small else configs
    if model and args.model:
        if not (args.compile and args.run):
            parser.error("--model needs --compile and --run")
        return model(args.compile, args.run, args.models, chosen)
    if args.compile:
        compile_models(args.compile, args.models, chosen,
                       ["--emulate-gpu"] if args.small else [])
        return 0
    if args.run:
        return run_models(args.run, args.models, args.repeat, chosen,
                          "cpu" if args.small else "cuda")
    parser.error("give --compile or --run")


if __name__ == "__main__":
    from profile_model import model_tables
    sys.exit(two_step_main(CONFIGS, SMALL, compile_models, run_models,
                           model=model_tables))
