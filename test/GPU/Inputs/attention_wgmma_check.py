"""usage: attention_wgmma_check.py MOA_RUN MODULE WORK
Runs attention-wgmma.mlir's entries on random inputs and checks the output
and each row's log-sum-exp against float64 loops on the same (16-bit
rounded) inputs: bf16 at h = 128, causal, one sequence's first 10 keys
padded (its first 10 tokens see no key: zeros and -inf), 150 tokens (3 key
tiles of 64, the last partial; 300 query rows, 5 blocks of 64); f16 at h =
64 with 40 tokens, k = 3 and 130 keys. Output within 1e-2 (P is rounded to
the 16-bit type before P V, as in FlashAttention; values in [-1, 1]),
log-sum-exp within 1e-4 (S accumulates in f32)."""
import sys

import numpy as np
from decode_check import from_bf16_bits, to_bf16_bits
from moa_run import run_entry


def reference(q, k, v, mask, causal):
    B, T, K, h = q.shape
    S = k.shape[1]
    s = np.einsum("btjh,bsh->btjs", q.astype(np.float64),
                  k.astype(np.float64)) / np.sqrt(h)
    visible = ~mask[:, None, :] & np.ones((1, T, 1), dtype=bool)
    if causal:
        visible &= np.arange(S)[None, None, :] <= np.arange(T)[None, :, None]
    s = np.where(visible[:, :, None, :], s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    p = np.exp(s - safe)
    total = p.sum(axis=-1, keepdims=True)
    o = np.einsum("btjs,bsh->btjh", p, v.astype(np.float64)) / \
        np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore"):
        lse = np.where(np.isfinite(top[..., 0]),
                       safe[..., 0] + np.log(total[..., 0]), -np.inf)
    return o, lse


def case(moa_run, module, work, rng, name, B, T, S, K, h, causal, padded):
    q = rng.uniform(-2, 2, (B, T, K, h)).astype(np.float32)
    k = rng.uniform(-2, 2, (B, S, h)).astype(np.float32)
    v = rng.uniform(-1, 1, (B, S, h)).astype(np.float32)
    mask = np.zeros((B, S), dtype=bool)
    if padded:
        mask[1, :10] = True
    if name.startswith("bf16"):
        q, k, v = (from_bf16_bits(to_bf16_bits(a)) for a in (q, k, v))
        inputs = [to_bf16_bits(a) for a in (q, k, v)]
    else:
        q, k, v = (a.astype(np.float16) for a in (q, k, v))
        inputs = [q, k, v]
    if padded:
        inputs.append(mask)
    results = run_entry(moa_run, module, name, work, inputs, name)
    if results is None:
        return False
    got_o, got_lse = results
    if name.startswith("bf16"):
        got_o = from_bf16_bits(got_o)
    want_o, want_lse = reference(q, k, v, mask, causal)
    empty = np.isneginf(want_lse)
    o_error = np.abs(got_o.astype(np.float64) - want_o).max()
    lse_error = np.abs(got_lse[~empty] - want_lse[~empty]).max()
    exact = bool(np.all(np.isneginf(got_lse[empty]))) and \
        bool(np.all(got_o[empty] == 0))
    passed = o_error <= 1e-2 and lse_error <= 1e-4 and exact and \
        int(empty.sum()) == (K * 10 if padded else 0)
    print(f"{'PASS' if passed else 'FAIL'} {name}: max |o - float64| "
          f"{o_error:.1e}, max |lse - float64| {lse_error:.1e}, "
          f"{int(empty.sum())} rows with no key "
          f"{'zero and -inf' if exact else 'WRONG'}")
    return passed


def main():
    moa_run, module, work = sys.argv[1:4]
    rng = np.random.default_rng(11)
    ok = case(moa_run, module, work, rng, "bf16_h128", 2, 150, 150, 2, 128,
              causal=True, padded=True)
    ok &= case(moa_run, module, work, rng, "f16_h64", 2, 40, 130, 3, 64,
               causal=False, padded=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
