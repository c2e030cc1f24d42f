"""usage: lse_check.py MOA_RUN MODULE WORK
Runs @lse_f32 and @lse_bf16 of attention-lse.mlir's module on causal
attention with a key padding mask (one sequence's first 10 keys padded, so
its first 10 tokens see no key) and checks the second result, each row's
log-sum-exp, against float64: within 1e-5 in f32 and 1e-4 in bf16 (whose
inputs the reference takes as rounded to bf16; the scores accumulate in
f32 on both paths), and exactly -inf for rows that see no key."""
import sys

import numpy as np
from decode_check import from_bf16_bits, to_bf16_bits
from moa_run import run_entry


def reference(q, k, mask):
    B, T, K, h = q.shape
    S = k.shape[1]
    s = np.einsum("btjh,bsh->btjs", q.astype(np.float64),
                  k.astype(np.float64)) / np.sqrt(h)
    visible = (np.arange(S)[None, None, :] <= np.arange(T)[None, :, None]) \
        & ~mask[:, None, :]
    s = np.where(visible[:, :, None, :], s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.exp(s - safe).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(top[..., 0]), safe[..., 0] + np.log(total),
                        -np.inf)


def main():
    moa_run, module, work = sys.argv[1:4]
    rng = np.random.default_rng(7)
    B, T, K, h = 3, 70, 2, 32
    mask = np.zeros((B, T), dtype=bool)
    mask[1, 40:] = True
    mask[2, :10] = True
    ok = True
    for dtype, tol in (("f32", 1e-5), ("bf16", 1e-4)):
        q = rng.uniform(-2, 2, (B, T, K, h)).astype(np.float32)
        k = rng.uniform(-2, 2, (B, T, h)).astype(np.float32)
        v = rng.uniform(-1, 1, (B, T, h)).astype(np.float32)
        if dtype == "bf16":
            q, k, v = (from_bf16_bits(to_bf16_bits(a)) for a in (q, k, v))
            saved = [to_bf16_bits(a) for a in (q, k, v)]
        else:
            saved = [q, k, v]
        results = run_entry(moa_run, module, "lse_" + dtype, work,
                            saved + [mask], dtype)
        if results is None:
            return 1
        got, want = results[1], reference(q, k, mask)
        empty = np.isneginf(want)
        error = np.abs(got[~empty] - want[~empty]).max()
        exact = bool(np.all(np.isneginf(got[empty])))
        passed = error <= tol and exact and empty.sum() == 2 * 10
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {dtype}: max |lse - float64| "
              f"{error:.1e} (tolerance {tol:g}), {int(empty.sum())} rows with "
              f"no key {'-inf' if exact else 'NOT -inf'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
