"""Runs an entry of a compiled module with moa-run on NumPy arrays: the
checkers of the GPU kernels (decode_check.py, embed_norm_check.py) share it."""
import os
import shutil
import subprocess

import numpy as np


def run_entry(moa_run, module, entry, work, inputs, prefix):
    """Saves `inputs` as WORK/PREFIX<i>.npy, runs ENTRY and returns its
    results as arrays, or None after printing moa-run's output if it failed."""
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(work, f"{prefix}{i}.npy"))
        np.save(paths[-1], a)
    out = os.path.join(work, f"{prefix}_out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    run = subprocess.run([moa_run, module, entry, *paths, "-o", out],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        return None
    results = []
    while os.path.exists(os.path.join(out, f"out{len(results)}.npy")):
        results.append(np.load(os.path.join(out, f"out{len(results)}.npy")))
    return results
