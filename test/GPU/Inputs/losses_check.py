"""Runs losses.mlir's @losses (compiled as MODULE) with moa-run on random
logits, targets (some -1), router logits, expert indices (some -1), gates
and a padding mask (one sequence wholly padded), against float64 NumPy
written here from moa-spec.md's definitions. With `bad-target` or
`bad-index`, one target or expert index is out of range: moa-run must fail.

usage: losses_check.py MOA_RUN MODULE WORKDIR [bad-target|bad-index]
"""
import sys

import numpy as np
from moa_run import run_entry

B, T, V, E, K = 4, 150, 50, 8, 2


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))


def references(logits, targets, router, indices, gates, mask, given):
    logits, router, gates, given = (a.astype(np.float64)
                                    for a in (logits, router, gates, given))
    out = {}
    lp = log_softmax(logits)
    labelled = targets >= 0
    nll = [-lp[b, t, targets[b, t]] for b in range(B) for t in range(T)
           if labelled[b, t]]
    out["cross_entropy"] = sum(nll) / len(nll)
    lse = np.log(np.exp(router).sum(axis=-1))
    p = np.exp(log_softmax(router))
    for name, keep in (("", np.ones((B, T), bool)), (" masked", ~mask)):
        n = keep.sum()
        out["router_z_loss" + name] = (lse[keep] ** 2).sum() / n
        conditional = -(p[keep] * np.log(p[keep])).sum() / n
        marginal = p[keep].sum(axis=0) / n
        out["mutual_information_loss" + name] = (
            conditional + (marginal * np.log(marginal)).sum())
        counts = np.zeros(E)
        for b, t, j in np.ndindex(B, T, K):
            if keep[b, t] and indices[b, t, j] >= 0:
                counts[indices[b, t, j]] += 1
        stats = np.stack([p[keep].sum(axis=0), counts])
        out["routing_statistics" + name] = stats
        out["load_balancing_loss" + name] = E * (
            stats[0] / stats[0].sum() * stats[1] / stats[1].sum()).sum()
    out["load_balancing_loss given"] = E * (
        given[0] / given[0].sum() * given[1] / given[1].sum()).sum()
    importance = np.zeros(E)
    for b, t, j in np.ndindex(B, T, K):
        if indices[b, t, j] >= 0:
            importance[indices[b, t, j]] += gates[b, t, j]
    out["importance_cv_loss"] = importance.var(ddof=1) / (
        importance.mean() ** 2 + 1e-10)
    return out


ORDER = ["cross_entropy", "router_z_loss", "router_z_loss masked",
         "mutual_information_loss", "mutual_information_loss masked",
         "routing_statistics", "routing_statistics masked",
         "load_balancing_loss", "load_balancing_loss masked",
         "load_balancing_loss given", "importance_cv_loss"]


def main():
    moa_run, module, work = sys.argv[1:4]
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, (B, T, V)).astype(np.float32)
    targets = rng.integers(0, V, (B, T)).astype(np.int32)
    targets[rng.random((B, T)) < 0.2] = -1
    router = rng.normal(0, 1.5, (B, T, E)).astype(np.float32)
    indices = np.argsort(-router, axis=-1)[..., :K].astype(np.int32)
    indices[rng.random((B, T, K)) < 0.1] = -1
    gates = rng.uniform(0.1, 1.0, (B, T, K)).astype(np.float32)
    mask = rng.random((B, T)) < 0.3
    mask[2] = True
    given = rng.uniform(1, 20, (2, E)).astype(np.float32)
    if len(sys.argv) > 4:
        if sys.argv[4] == "bad-target":
            targets[1, 7] = V
        else:
            indices[3, 9, 1] = E
    inputs = [logits, targets, router, indices, gates, mask, given]
    results = run_entry(moa_run, module, "losses", work, inputs, "loss")
    if results is None:
        return 1
    expected = references(*inputs)
    worst = 0.0
    for name, got in zip(ORDER, results):
        want = expected[name]
        error = float(np.abs(got - want).max() / np.abs(want).max())
        worst = max(worst, error)
        print(f"{name}: {float(np.ravel(got)[0]):.6g} vs {float(np.ravel(want)[0]):.6g}"
              f" relative error {error:.1e}")
    status = "PASS" if worst <= 1e-5 and len(results) == len(ORDER) else "FAIL"
    print(f"{status} losses: worst relative error {worst:.1e} (<= 1e-5)")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
