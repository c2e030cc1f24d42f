"""Runs decode-step.mlir's @decode_step (compiled as MODULE) with moa-run on random
caches, new tokens and offsets, and compares the attention output and the
updated caches with a float64 reference written here from moa-spec's
definition: token t of sequence b sits at offsets[b] + t and attends to the
cached keys 0 .. offsets[b] + t.

usage: decode_check.py MOA_RUN MODULE WORKDIR B T OFFSETS (comma-separated)
                       [bf16]
With bf16 the module is the same step on bf16 tensors (uint16 bits in the
.npy files): the reference takes the inputs as rounded to bf16, and the
output, itself rounded to bf16, must agree within 2e-2 (1e-5 in f32).
"""
import sys

import numpy as np
from moa_run import run_entry

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


def to_bf16_bits(a):
    """float32 -> bf16 bits (uint16), rounded to nearest even."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def main():
    moa_run, module, work = sys.argv[1], sys.argv[2], sys.argv[3]
    batch, length = int(sys.argv[4]), int(sys.argv[5])
    offsets = np.array([int(x) for x in sys.argv[6].split(",")], dtype=np.int32)
    bf16 = len(sys.argv) > 7 and sys.argv[7] == "bf16"
    tolerance = 2e-2 if bf16 else 1e-5
    rng = np.random.default_rng(7 + batch * 100 + length)

    def values(*shape):
        a = rng.uniform(-1, 1, shape).astype(np.float32)
        return from_bf16_bits(to_bf16_bits(a)) if bf16 else a

    inputs = [values(batch, length, K, H), values(batch, length, H),
              values(batch, length, H), values(batch, S, H), values(batch, S, H), offsets]
    saved = [to_bf16_bits(a) if bf16 and i < 5 else a for i, a in enumerate(inputs)]
    results = run_entry(moa_run, module, "decode_step", work, saved, "in")
    if results is None:
        return 1
    q, knew, vnew, kc, vc = inputs[:5]
    kc, vc = kc.copy(), vc.copy()
    for b in range(batch):
        kc[b, offsets[b] : offsets[b] + length] = knew[b]
        vc[b, offsets[b] : offsets[b] + length] = vnew[b]
    expected = [reference(q, kc, vc, offsets), kc, vc]
    if len(results) != len(expected):
        print(f"FAIL {len(results)} results, expected {len(expected)}")
        return 1
    worst = 0.0
    for i, (e, got) in enumerate(zip(expected, results)):
        if bf16:
            got = from_bf16_bits(got.view(np.uint16))
        if got.shape != e.shape:
            print(f"FAIL result {i}: shape {got.shape}, expected {e.shape}")
            return 1
        worst = max(worst, float(np.abs(got - e).max() / np.abs(e).max()))
    status = "PASS" if worst <= tolerance else "FAIL"
    print(f"{status} {'bf16' if bf16 else 'f32'} B={batch} T={length} offsets={sys.argv[6]}: "
          f"worst relative error {worst:.1e} (<= {tolerance:g})")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
