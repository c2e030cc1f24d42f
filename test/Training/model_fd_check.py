#!/usr/bin/env python3
"""Directional finite-difference check of the compiled gradient of a model.

usage: model_fd_check.py MOA_RUN MODULE WORKDIR
MODULE holds `loss` (examples/tiny_lm.mlir) and `loss_grad` (from
moa-generate-gradients). For random parameters and data, and for each
parameter tensor a random unit direction u over that tensor alone (so every
parameter's gradient is checked on its own), compares <grad, u> from `loss_grad` with the
central difference (loss(p + eps u) - loss(p - eps u)) / (2 eps) of the
compiled f32 forward pass. The loss is an f32 sum over many terms: its
rounding makes the quotient wobble by about 1e-4 at eps = 3e-3, and kinks
(ReLU) and curvature cost O(eps) at larger steps (measured here: at
eps = 1e-2 the worst disagreement is 1.2e-4 absolute, converging as eps
shrinks until the rounding takes over). So eps = 1e-2 and an error bound of
2e-2 relative to max(|<grad, u>|, 1e-2); a missing or wrong term shows as
O(1) of a parameter's directional derivative.
"""
import os
import subprocess
import sys

import numpy as np

MOA_RUN, MODULE, WORK = sys.argv[1:4]
rng = np.random.default_rng(7)

# The parameter shapes of examples/tiny_lm.mlir, in argument order.
SHAPES = [(64, 32), (64, 32), (32,), (32,), (32, 4), (4, 32, 16), (32, 16),
          (32, 16), (4, 16, 32), (32,), (32,), (32, 64), (64, 32), (32,), (32,),
          (32, 64)]
B, T = 4, 12


def run(entry, arrays, tag):
    paths = []
    for i, a in enumerate(arrays):
        path = os.path.join(WORK, f"{tag}_in{i}.npy")
        np.save(path, a)
        paths.append(path)
    out = os.path.join(WORK, tag)
    os.makedirs(out, exist_ok=True)
    subprocess.run([MOA_RUN, MODULE, entry, *paths, "-o", out], check=True,
                   stdout=subprocess.DEVNULL)
    results = []
    i = 0
    while os.path.exists(os.path.join(out, f"out{i}.npy")):
        results.append(np.load(os.path.join(out, f"out{i}.npy")))
        i += 1
    return results


params = []
for shape in SHAPES:
    scale = 1.0 if len(shape) == 1 else 1.0 / np.sqrt(shape[-2] if len(shape) > 1 else 1)
    p = rng.normal(0.0, scale, size=shape)
    if len(shape) == 1:
        p = 1.0 + 0.3 * rng.normal(size=shape)  # layer-norm scales and shifts
    params.append(p.astype(np.float32))
params[4] *= 20.0  # well-separated router logits: the top-k choice is stable
tokens = rng.integers(0, 60, size=(B, T)).astype(np.int32)
positions = np.tile(np.arange(T, dtype=np.int32), (B, 1))
targets = rng.integers(0, 64, size=(B, T)).astype(np.int32)
targets[:, :3] = -1  # some ignored tokens
data = [tokens, positions, targets]

seeds = [np.float32(1.0), np.float32(0.0), np.float32(0.0), np.float32(0.0),
         np.zeros((B, T, 64), np.float32)]
grads = run("loss_grad", params + data + [np.array(s, np.float32) for s in seeds],
            "grad")
assert len(grads) == len(params), f"{len(grads)} gradients for {len(params)} parameters"

NAMES = ["tok_emb", "pos_emb", "ln1_g", "ln1_b", "w_gate", "w_query", "w_key",
         "w_value", "w_out", "ln2_g", "ln2_b", "w_ff1", "w_ff2", "lnf_g",
         "lnf_b", "w_vocab"]
eps = float(os.environ.get("FD_EPS", "1e-2"))
failures, checks = 0, len(params)
for c in range(checks):
    direction = [np.zeros(p.shape, np.float32) for p in params]
    u = rng.normal(size=params[c].shape)
    direction[c] = (u / np.sqrt((u * u).sum())).astype(np.float32)
    analytic = sum(float((g.astype(np.float64) * d).sum())
                   for g, d in zip(grads, direction))
    plus = run("loss", [p + eps * d for p, d in zip(params, direction)] + data, "plus")
    minus = run("loss", [p - eps * d for p, d in zip(params, direction)] + data, "minus")
    numeric = (float(plus[0]) - float(minus[0])) / (2 * eps)
    error = abs(analytic - numeric) / max(abs(analytic), 1e-2)
    ok = error <= 2e-2
    failures += not ok
    print(f"{NAMES[c]}: analytic {analytic:+.6f} numeric {numeric:+.6f} "
          f"rel error {error:.1e} {'ok' if ok else 'FAIL'}")
print(f"{checks} parameters, {failures} failed")
sys.exit(1 if failures else 0)
