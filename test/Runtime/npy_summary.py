#!/usr/bin/env python3
"""Prints 'nan=N inf=I max=M' for a little-endian f32 .npy file (no NumPy)."""
import ast
import math
import struct
import sys

with open(sys.argv[1], "rb") as f:
    data = f.read()
assert data[:6] == b"\x93NUMPY"
length = struct.unpack("<H", data[8:10])[0]
header = ast.literal_eval(data[10:10 + length].decode("latin1"))
assert header["descr"] == "<f4", header
count = 1
for size in header["shape"]:
    count *= size
values = struct.unpack("<%df" % count, data[10 + length:10 + length + 4 * count])
print("nan=%d inf=%d max=%g" % (sum(math.isnan(v) for v in values),
                                sum(math.isinf(v) for v in values),
                                max((abs(v) for v in values), default=0.0)))
