"""Runs embed-norm.mlir's @embed_norm (compiled as MODULE) with moa-run on
random ids, table, gamma and beta, against float64 loops written here:
y = (x - mean) / sqrt(var + 1e-3) * gamma + beta, x the ids' table rows.
With `bad`, one id is outside the table: moa-run must fail.

usage: embed_norm_check.py MOA_RUN MODULE WORKDIR [bad]
"""
import os
import subprocess
import sys

import numpy as np


def main():
    moa_run, module, work = sys.argv[1:4]
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, (3, 11)).astype(np.int32)
    if len(sys.argv) > 4:
        ids[2, 4] = 50
    inputs = [ids, rng.normal(0, 1, (50, 72)).astype(np.float32),
              rng.uniform(0.5, 1.5, 72).astype(np.float32),
              rng.uniform(-0.5, 0.5, 72).astype(np.float32)]
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(work, f"en{i}.npy"))
        np.save(paths[-1], a)
    out = os.path.join(work, "en_out")
    os.makedirs(out, exist_ok=True)
    run = subprocess.run([moa_run, module, "embed_norm", *paths, "-o", out],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        return 1
    table, gamma, beta = (a.astype(np.float64) for a in inputs[1:])
    expected = np.zeros((3, 11, 72))
    for b in range(3):
        for t in range(11):
            x = table[ids[b, t]]
            mean = sum(x) / 72
            var = sum((v - mean) ** 2 for v in x) / 72
            expected[b, t] = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    got = np.load(os.path.join(out, "out0.npy"))
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    status = "PASS" if error <= 1e-5 else "FAIL"
    print(f"{status} embedding + layer_norm: worst relative error {error:.1e} (<= 1e-5)")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
