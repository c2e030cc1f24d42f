#!/usr/bin/env python3
"""write F N: a 1-D f32 .npy of N values 0.5, 1.5, ...; check-double X Y:
prints 'N elements doubled' if Y == 2 * X elementwise (no NumPy needed)."""
import ast
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    count = 1
    for size in header["shape"]:
        count *= size
    return struct.unpack("<%df" % count, data[10 + length:10 + length + 4 * count])


if sys.argv[1] == "write":
    n = int(sys.argv[3])
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % n
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(sys.argv[2], "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack("<%df" % n, *[i + 0.5 for i in range(n)]))
else:
    x, y = read(sys.argv[2]), read(sys.argv[3])
    ok = len(x) == len(y) and all(b == 2 * a for a, b in zip(x, y))
    print("%d elements doubled" % len(x) if ok else "MISMATCH")
