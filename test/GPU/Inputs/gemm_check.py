"""A C = A B GEMM of bf16 operands (f32 results) against float64 loops.

make A B M K N: random values, exact in bf16, in f32 .npy files (A M x K,
B K x N), of mixed sign and magnitude.
check A B C: prints the largest error of C, relative to the sum of the
magnitudes of each entry's products (f32 accumulation of K exact products
stays within K * 2^-24 of it), and whether it is within 2e-5 of it.
"""
import sys

import numpy as np


def bf16_exact(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    x *= np.exp2(rng.integers(-3, 3, shape)).astype(np.float32)
    return (x.view(np.uint32) & 0xFFFF0000).view(np.float32)


if sys.argv[1] == "make":
    m, k, n = (int(v) for v in sys.argv[4:7])
    rng = np.random.default_rng(2022)
    np.save(sys.argv[2], bf16_exact(rng, (m, k)))
    np.save(sys.argv[3], bf16_exact(rng, (k, n)))
else:
    a = np.load(sys.argv[2]).astype(np.float64)
    b = np.load(sys.argv[3]).astype(np.float64)
    c = np.load(sys.argv[4]).astype(np.float64)
    reference = np.zeros((a.shape[0], b.shape[1]))
    scale = np.zeros_like(reference)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            products = [a[i, p] * b[p, j] for p in range(a.shape[1])]
            reference[i, j] = sum(products)
            scale[i, j] = sum(abs(p) for p in products)
    error = np.max(np.abs(c - reference) / scale) if c.shape == reference.shape else np.inf
    print("gemm %dx%dx%d: max relative error %.1e: %s" % (
        a.shape[0], a.shape[1], b.shape[1], error,
        "ok" if error <= 2e-5 else "WRONG"))
