"""Compares two moa-train checkpoints of the same model trained the same way
(one process, and a data-parallel job): the per-step losses of their
histories (cross-entropy and auxiliary) and the final parameters.

usage: compare_runs.py ONE.safetensors OTHER.safetensors FIRST FIRST_TOL ALL_TOL

Prints the largest relative differences and PASS or FAIL: the first FIRST
recorded steps within FIRST_TOL, every step and every parameter within
ALL_TOL (relative to the largest magnitude of the quantity compared).
"""
import json
import struct
import sys

import numpy as np


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    body = data[8 + size :]
    kinds = {"F32": np.float32, "I32": np.int32}
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=kinds[spec["dtype"]]).reshape(
            spec["shape"]
        )
    return tensors


def relative(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    scale = max(np.abs(a).max(), 1e-30)
    return float(np.abs(a - b).max() / scale)


def main():
    one, other = read(sys.argv[1]), read(sys.argv[2])
    first, first_tol, all_tol = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    ok = True
    if not np.array_equal(one["history.step"], other["history.step"]):
        print("FAIL: the runs recorded different steps")
        return 1
    steps = len(one["history.step"])
    for name in ("history.loss", "history.aux"):
        early = relative(one[name][:first], other[name][:first])
        late = relative(one[name], other[name])
        print(f"{name}: first {first} steps {early:.1e} (<= {first_tol:g}), "
              f"all {steps} steps {late:.1e} (<= {all_tol:g})")
        ok &= early <= first_tol and late <= all_tol
    params = [n for n in one if n.startswith("p.")]
    worst = max(relative(one[n], other[n]) for n in params)
    print(f"{len(params)} parameters after step {steps}: {worst:.1e} (<= {all_tol:g})")
    ok &= worst <= all_tol
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
