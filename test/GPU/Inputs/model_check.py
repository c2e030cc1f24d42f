"""Runs one entry of a model compiled twice, for the CPU and for the GPU
(emulated), on the same random inputs and checks that every result agrees
within TOL relative (the GPU kernels against the CPU loops at model level:
buffers bufferization reuses in place, the losses, the whole forward).
Parameters are random normal (scaled by 1/sqrt(fan-in) for matrices); the
[B, T] i32 arguments are token ids uniform in [0, vocabulary), positions
0..T-1 and targets (a fifth -1); a [B] i32 argument is prompt lengths.

usage: model_check.py MOA_RUN CPU.so GPU.so ENTRY WORKDIR B T TOL
"""
import re
import subprocess
import sys

import numpy as np
from moa_run import run_entry


def signature(moa_run, module, entry):
    listing = subprocess.run([moa_run, module, "--list"], capture_output=True,
                             text=True, check=True).stdout
    line = next(l for l in listing.splitlines() if l.startswith(entry + "("))
    args = line[len(entry) + 1:line.index(") -> ")]
    return re.findall(r"(\w+)\[([^\]]*)\]", args)


def main():
    moa_run, cpu, gpu, entry, work, b, t, tol = sys.argv[1:9]
    b, t, tol = int(b), int(t), float(tol)
    rng = np.random.default_rng(11)
    inputs = []
    vocab = None
    ids = []
    for dtype, dims in signature(moa_run, cpu, entry):
        if dtype == "f32":
            shape = [int(d) for d in dims.split(", ")] if dims else []
            scale = 1 / np.sqrt(shape[-2]) if len(shape) >= 2 else 0.3
            a = rng.normal(0, scale, shape).astype(np.float32)
            if len(shape) == 1:
                a += 1
            vocab = vocab or shape[0]
        elif dims == "?":
            # A prefill's prompt lengths.
            a = rng.integers(1, t + 1, b).astype(np.int32)
        else:
            # Token ids, positions, then targets.
            a = [rng.integers(0, vocab, (b, t)),
                 np.tile(np.arange(t), (b, 1)),
                 np.where(rng.random((b, t)) < 0.2, -1,
                          rng.integers(0, vocab, (b, t)))][len(ids)]
            a = a.astype(np.int32)
            ids.append(a)
        inputs.append(a)
    want = run_entry(moa_run, cpu, entry, work, inputs, "cpu")
    got = run_entry(moa_run, gpu, entry, work, inputs, "gpu")
    if want is None or got is None or len(want) != len(got):
        return 1
    worst = 0.0
    for i, (w, g) in enumerate(zip(want, got)):
        error = float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-30))
        worst = max(worst, error)
        print(f"result {i} {list(w.shape)}: {float(np.ravel(g)[0]):.6g} vs "
              f"{float(np.ravel(w)[0]):.6g}, relative error {error:.1e}")
    status = "PASS" if worst <= tol else "FAIL"
    print(f"{status} {entry} on the GPU against the CPU: worst relative "
          f"error {worst:.1e} (<= {tol:g})")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
