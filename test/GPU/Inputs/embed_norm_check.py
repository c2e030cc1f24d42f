"""Runs embed-norm.mlir's @embed_norm (compiled as MODULE) with moa-run on
random ids, table, gamma and beta, against float64 loops written here:
y = (x - mean) / sqrt(var + 1e-3) * gamma + beta, x the ids' table rows.
With `bad`, one id is outside the table: moa-run must fail.

usage: embed_norm_check.py MOA_RUN MODULE WORKDIR [bad]
"""
import sys

import numpy as np
from moa_run import run_entry


def main():
    moa_run, module, work = sys.argv[1:4]
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, (3, 11)).astype(np.int32)
    if len(sys.argv) > 4:
        ids[2, 4] = 50
    inputs = [ids, rng.normal(0, 1, (50, 72)).astype(np.float32),
              rng.uniform(0.5, 1.5, 72).astype(np.float32),
              rng.uniform(-0.5, 0.5, 72).astype(np.float32)]
    results = run_entry(moa_run, module, "embed_norm", work, inputs, "en")
    if results is None:
        return 1
    table, gamma, beta = (a.astype(np.float64) for a in inputs[1:])
    expected = np.zeros((3, 11, 72))
    for b in range(3):
        for t in range(11):
            x = table[ids[b, t]]
            mean = sum(x) / 72
            var = sum((v - mean) ** 2 for v in x) / 72
            expected[b, t] = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    got = results[0]
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    status = "PASS" if error <= 1e-5 else "FAIL"
    print(f"{status} embedding + layer_norm: worst relative error {error:.1e} (<= 1e-5)")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
