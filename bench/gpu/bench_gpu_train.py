#!/usr/bin/env python3
"""GPU benchmark of a training step of the MoA layer (forward, backward and
AdamW) against PyTorch, on the same inputs in the same run.

The step's loss is the layer's output read as logits over d classes:
loss = cross_entropy(y, targets), targets uniform in [0, d). The five
weights are trained (f32 master weights, AdamW with lr 1e-3, betas (0.9,
0.98), eps 1e-8, no decay, constant rate); x is data. bf16 configurations
run in mixed precision on both sides: moa's mixed-precision=bf16 and
torch.autocast("cuda", torch.bfloat16) (router in f32 on both).

Two steps, on two machines:
  --compile MOA_COMPILE --models DIR   (where LLVM is; bench/gpu/bundle.sh)
      writes each configuration's loss module and compiles, with
      moa-generate-gradients and moa-generate-train-step, @loss_grad (to
      compare gradients) and @loss_train_step (to time) for sm_90a;
  --run MOA_RUN --models DIR           (on the GPU machine; bench/gpu/run.sh)
      runs @loss_grad once and compares the weight gradients with (a)'s,
      times @loss_train_step with `moa-run --device` (parameters, moments
      and data on the device; the median call, launches included), and
      times with CUDA events (a) PyTorch eager autograd on the official
      algorithm (bench/moa_torch.py) and (b) a dense layer of equal compute
      with scaled_dot_product_attention, each with the same loss and
      torch.optim.AdamW.
Goals from the issue (GPU, bf16): moa >= 3x faster than (a), within 1.5x
of (b).
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_gpu import two_step_main  # noqa: E402
from layer_common import layer_inputs, macs  # noqa: E402

CONFIGS = [
    # name, B, T, d, E, k, h, precision
    ("bf16-B8-T2048-d1024-E32-k4-h128", 8, 2048, 1024, 32, 4, 128, "bf16"),
    ("bf16-B32-T512-d512-E8-k2-h64", 32, 512, 512, 8, 2, 64, "bf16"),
    ("f32-B32-T512-d512-E8-k2-h64", 32, 512, 512, 8, 2, 64, "f32"),
]
# --small: a dry run of this script without a GPU (modules compiled with
# --emulate-gpu, PyTorch on the CPU); its times mean nothing.
SMALL = [
    ("bf16-B2-T64-d64-E4-k2-h32", 2, 64, 64, 4, 2, 32, "bf16"),
    ("f32-B2-T64-d64-E4-k2-h32", 2, 64, 64, 4, 2, 32, "f32"),
]
LR, BETAS, EPS = 1e-3, (0.9, 0.98), 1e-8
WEIGHTS = ["w_gate", "w_query", "w_key", "w_value", "w_out"]


def loss_text(d, E, k, h):
    x = f"tensor<?x?x{d}xf32>"
    weights = [f"tensor<{d}x{E}xf32>", f"tensor<{E}x{d}x{h}xf32>",
               f"tensor<{d}x{h}xf32>", f"tensor<{d}x{h}xf32>",
               f"tensor<{E}x{h}x{d}xf32>"]
    params = ", ".join(f'%{n}: {t} {{moa.param = "{n}"}}'
                       for n, t in zip(WEIGHTS, weights))
    return (
        f"func.func @loss({params}, %x: {x}, %targets: tensor<?x?xi32>)"
        f" -> tensor<f32> {{\n"
        f"  %y, %l = moa.mixture_attention %x, %w_gate, %w_query, %w_key,"
        f" %w_value, %w_out k({k})\n"
        f"      : {x}, {', '.join(weights)}\n"
        f"  %ce = moa.cross_entropy %y, %targets : {x}, tensor<?x?xi32>\n"
        f"  return %ce : tensor<f32>\n}}\n")


def compile_models(compiler, models, configs, extra):
    os.makedirs(models, exist_ok=True)
    for name, B, T, d, E, k, h, precision in configs:
        base = os.path.join(models, "train-" + name)
        with open(base + ".mlir", "w") as f:
            f.write(loss_text(d, E, k, h))
        mixed = f"mixed-precision={'bf16' if precision == 'bf16' else 'none'}"
        passes = (f"moa-generate-gradients{{functions=loss {mixed}}},"
                  f"moa-generate-train-step{{lr={LR} beta1={BETAS[0]} "
                  f"beta2={BETAS[1]} epsilon={EPS} warmup-steps=0 {mixed}}}")
        subprocess.run([compiler, base + ".mlir", "--target=cuda", *extra,
                        "--pre-pipeline=" + passes, "-o", base + ".so"],
                       check=True)
        print(f"compiled train-{name}")


def step_inputs(B, T, d, E, h):
    rng = np.random.default_rng(0)
    x, *weights = layer_inputs(rng, B, T, d, E, h)
    targets = rng.integers(0, d, (B, T)).astype(np.int32)
    return weights, x, targets


def moa_gradients(moa_run, so, paths, work):
    out = os.path.join(work, "grad.out")
    os.makedirs(out, exist_ok=True)
    subprocess.run([moa_run, so, "loss_grad", *paths, "-o", out], check=True,
                   capture_output=True)
    return [np.load(os.path.join(out, f"out{i}.npy"))
            for i in range(len(WEIGHTS))]


def moa_step_ms(moa_run, so, paths, repeat, work):
    out = os.path.join(work, "step.out")
    os.makedirs(out, exist_ok=True)
    result = subprocess.run(
        [moa_run, so, "loss_train_step", *paths, "--repeat", str(repeat),
         "--device", "-o", out], check=True, capture_output=True, text=True)
    return float(re.search(r"time on device tensors: ([0-9.]+) ms",
                           result.stdout).group(1))


def torch_step(layer, params, x, targets, d, mixed, device):
    """One training step of a PyTorch peer: returns a callable."""
    import torch
    optimizer = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS,
                                  weight_decay=0.0)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16,
                            enabled=mixed):
            y = layer(x, *params)
        loss = torch.nn.functional.cross_entropy(
            y.float().reshape(-1, d), targets.reshape(-1).long())
        loss.backward()
        optimizer.step()
    return step


def run_models(moa_run, models, repeat, configs, device_name):
    import torch
    from bench_gpu import dense_layer, dense_weights, device_ms, torch_device
    from moa_torch import moa_layer
    device, where = torch_device(device_name)
    print(f"{where}; training step (forward, backward, AdamW); median of "
          f"{repeat} steps each")
    header = (f"{'config':34} {'moa ms':>8} {'(a) ms':>8} {'(b) ms':>8} "
              f"{'moa TF/s':>8} {'a/moa':>6} {'moa/b':>6} {'grad err':>8}")
    print(header)
    print("-" * len(header))
    ok = True
    with tempfile.TemporaryDirectory() as work:
        for name, B, T, d, E, k, h, precision in configs:
            mixed = precision == "bf16"
            so = os.path.join(models, f"train-{name}.so")
            weights, x, targets = step_inputs(B, T, d, E, h)
            data = [x, targets]

            def saved(arrays, tag):
                paths = []
                for i, a in enumerate(arrays):
                    paths.append(os.path.join(work, f"{name}.{tag}{i}.npy"))
                    np.save(paths[-1], a)
                return paths
            one = np.array(1.0, dtype=np.float32)
            grads = moa_gradients(moa_run, so,
                                  saved(weights + data + [one], "g"), work)
            zeros = [np.zeros_like(w) for w in weights]
            step_paths = saved(weights + zeros + zeros + [one] + data, "s")
            moa_ms = moa_step_ms(moa_run, so, step_paths, repeat, work)

            tx = torch.from_numpy(x).to(device)
            tt = torch.from_numpy(targets).to(device)
            params = [torch.from_numpy(w).to(device).requires_grad_()
                      for w in weights]
            official = torch_step(
                lambda xx, *p: moa_layer(xx, *p, k), params, tx, tt, d,
                mixed, device)
            official()  # the step's gradients, from the inputs as drawn
            error = max(
                float(np.abs(g - p.grad.float().cpu().numpy()).max() /
                      np.abs(p.grad.float().cpu().numpy()).max())
                for g, p in zip(grads, params))
            a_ms = device_ms(official, repeat, device)
            _, w_query, w_key, w_value, w_out = weights
            wq_dense, wo_dense = dense_weights(w_query, w_out, k)
            dense = [torch.from_numpy(np.ascontiguousarray(a)).to(device)
                     .requires_grad_()
                     for a in (wq_dense, w_key, w_value, wo_dense)]
            b_ms = device_ms(torch_step(
                lambda xx, *p: dense_layer(xx, *p, k), dense, tx, tt, d,
                mixed, device), repeat, device)
            agree = error < (5e-2 if mixed else 1e-3)
            ok &= agree
            # Forward and backward: about three times the forward's work.
            tflops = 3 * 2 * macs(B, T, d, E, k, h) / (moa_ms * 1e-3) / 1e12
            print(f"{name:34} {moa_ms:8.3f} {a_ms:8.3f} {b_ms:8.3f} "
                  f"{tflops:8.1f} {a_ms / moa_ms:6.2f} {moa_ms / b_ms:6.2f} "
                  f"{error:8.1e}{'' if agree else '  DISAGREE'}")
    print("moa ms: @loss_train_step on device tensors (moa-run --device); "
          "grad err: max |moa - (a)| / max |(a)| over the weight gradients; "
          "goals: a/moa >= 3, moa/b <= 1.5")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(two_step_main(CONFIGS, SMALL, compile_models, run_models))
