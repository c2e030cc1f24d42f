"""Runs decode-step.mlir's @decode_step (compiled as MODULE) with moa-run on random
caches, new tokens and offsets, and compares the attention output and the
updated caches with a float64 reference written here from moa-spec's
definition: token t of sequence b sits at offsets[b] + t and attends to the
cached keys 0 .. offsets[b] + t.

usage: decode_check.py MOA_RUN MODULE WORKDIR B T OFFSETS (comma-separated)
"""
import os
import subprocess
import sys

import numpy as np

K, H, S = 2, 40, 300


def reference(q, kc, vc, offsets):
    b_, t_ = q.shape[:2]
    out = np.zeros(q.shape)
    for b in range(b_):
        for t in range(t_):
            p = offsets[b] + t
            keys, values = kc[b, : p + 1].astype(np.float64), vc[b, : p + 1].astype(np.float64)
            for j in range(K):
                s = keys @ q[b, t, j].astype(np.float64) / np.sqrt(H)
                w = np.exp(s - s.max())
                out[b, t, j] = (w / w.sum()) @ values
    return out


def main():
    moa_run, module, work = sys.argv[1], sys.argv[2], sys.argv[3]
    batch, length = int(sys.argv[4]), int(sys.argv[5])
    offsets = np.array([int(x) for x in sys.argv[6].split(",")], dtype=np.int32)
    rng = np.random.default_rng(7 + batch * 100 + length)
    f32 = lambda *shape: rng.uniform(-1, 1, shape).astype(np.float32)
    inputs = [f32(batch, length, K, H), f32(batch, length, H), f32(batch, length, H),
              f32(batch, S, H), f32(batch, S, H), offsets]
    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(work, f"in{i}.npy"))
        np.save(paths[-1], a)
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir, exist_ok=True)
    run = subprocess.run([moa_run, module, "decode_step", *paths, "-o", out_dir],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        return 1
    q, knew, vnew, kc, vc = inputs[:5]
    kc, vc = kc.copy(), vc.copy()
    for b in range(batch):
        kc[b, offsets[b] : offsets[b] + length] = knew[b]
        vc[b, offsets[b] : offsets[b] + length] = vnew[b]
    expected = [reference(q, kc, vc, offsets), kc, vc]
    worst = 0.0
    for i, e in enumerate(expected):
        got = np.load(os.path.join(out_dir, f"out{i}.npy"))
        if got.shape != e.shape:
            print(f"FAIL result {i}: shape {got.shape}, expected {e.shape}")
            return 1
        worst = max(worst, float(np.abs(got - e).max() / np.abs(e).max()))
    status = "PASS" if worst <= 1e-5 else "FAIL"
    print(f"{status} B={batch} T={length} offsets={sys.argv[6]}: "
          f"worst relative error {worst:.1e} (<= 1e-5)")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
