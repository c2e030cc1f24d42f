#!/usr/bin/env python3
"""Writes the .npy inputs of test/Training/bad-inputs.mlir into DIR."""
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(3)


def save(name, array):
    np.save(os.path.join(out, name), array)


# route_grad: token 0 is routed, token 1 has -1 in its second slot only.
save("rl.npy", rng.normal(size=(1, 2, 4)).astype(np.float32))
save("ri.npy", np.array([[[2, 0], [3, -1]]], np.int32))
save("rg.npy", rng.normal(size=(1, 2, 2)).astype(np.float32))
# grouped_matmul_grad: the input's K (1) disagrees with the weight's (16).
save("gx.npy", rng.normal(size=(1, 3, 1)).astype(np.float32))
save("gw.npy", rng.normal(size=(2, 16, 4)).astype(np.float32))
save("gp.npy", np.arange(6, dtype=np.int32))
save("go.npy", np.array([0, 3, 6], np.int32))
save("gdy.npy", rng.normal(size=(1, 3, 2, 4)).astype(np.float32))
# layer_norm: beta of size 1 for rows of 8; layer_norm_grad: dy of 1 row
# for x of 3 rows.
save("lx.npy", rng.normal(size=(3, 8)).astype(np.float32))
save("lg.npy", rng.normal(size=(8,)).astype(np.float32))
save("lb1.npy", rng.normal(size=(1,)).astype(np.float32))
save("ldy1.npy", rng.normal(size=(1, 8)).astype(np.float32))
# cross_entropy over an empty vocabulary, every target ignored.
save("cl.npy", np.zeros((2, 3, 0), np.float32))
save("ct.npy", np.full((2, 3), -1, np.int32))
