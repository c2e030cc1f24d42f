#!/usr/bin/env python3
"""Reference for test/Runtime/upstream-ops.mlir (no NumPy).

  upstream_check.py make IN.npy          random f32 [5, 8] (seed 3)
  upstream_check.py softmax IN.npy OUT.npy
  upstream_check.py times8 IN.npy OUT.npy
Checks OUT against plain double-precision loops over IN and prints the
largest relative error, or FAIL.
"""
import ast
import math
import random
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    rows, cols = header["shape"]
    values = struct.unpack("<%df" % (rows * cols), data[10 + length:])
    return [list(values[r * cols:(r + 1) * cols]) for r in range(rows)]


def write(path, rows, cols):
    random.seed(3)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (
        rows, cols)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    values = [random.uniform(-4.0, 4.0) for _ in range(rows * cols)]
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode() + struct.pack("<%df" % len(values), *values))


def reference(mode, row):
    if mode == "times8":
        return [8.0 * v for v in row]
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    return [e / sum(exps) for e in exps]


if sys.argv[1] == "make":
    write(sys.argv[2], 5, 8)
    sys.exit(0)
mode, inputs, outputs = sys.argv[1], read(sys.argv[2]), read(sys.argv[3])
worst = 0.0
for row_in, row_out in zip(inputs, outputs):
    for want, got in zip(reference(mode, row_in), row_out):
        worst = max(worst, abs(got - want) / max(abs(want), 1e-30))
print("%s max rel err %.1e %s" % (mode, worst, "ok" if worst < 1e-5 else "FAIL"))
