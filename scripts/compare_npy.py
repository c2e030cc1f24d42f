#!/usr/bin/env python3
"""Compare the outN.npy results of two moa-run output directories.

Prints the largest relative error (max |a - b| / max |a|) of each result and
fails above 2e-2 (the bf16 tolerance; f32 results agree far closer).
usage: compare_npy.py DIR_A DIR_B
"""
import glob
import os
import sys

import numpy as np


def load(path):
    array = np.load(path)
    if array.dtype.kind == "V" or array.dtype == np.uint16:  # bf16 bits
        array = (array.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float64)


def main():
    a_dir, b_dir = sys.argv[1:3]
    worst = 0.0
    files = sorted(glob.glob(os.path.join(a_dir, "out*.npy")))
    if not files:
        print(f"no results in {a_dir}")
        return 1
    for path in files:
        name = os.path.basename(path)
        a, b = load(path), load(os.path.join(b_dir, name))
        if a.shape != b.shape:
            print(f"{name}: shapes differ {a.shape} {b.shape}")
            return 1
        scale = max(np.max(np.abs(a)), 1e-30)
        error = float(np.max(np.abs(a - b)) / scale)
        worst = max(worst, error)
        print(f"{name}: relative error {error:.2e}")
    return 0 if worst <= 2e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
