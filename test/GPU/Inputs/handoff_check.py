#!/usr/bin/env python3
"""make X: an 8 x 64 f32 .npy of random values (seeded);
check X Y: whether Y (64 f32) holds X's column sums, against float64."""
import sys

import numpy as np

if sys.argv[1] == "make":
    rng = np.random.default_rng(7)
    np.save(sys.argv[2], rng.standard_normal((8, 64)).astype(np.float32))
else:
    x = np.load(sys.argv[2]).astype(np.float64)
    y = np.load(sys.argv[3]).astype(np.float64)
    want = x.sum(axis=0)
    error = float(np.abs(y - want).max() / np.abs(want).max())
    print(f"handoff: {y.size} column sums, max relative error {error:.1e}: "
          f"{'ok' if y.shape == want.shape and error < 1e-5 else 'WRONG'}")
