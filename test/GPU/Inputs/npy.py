#!/usr/bin/env python3
"""write F N [S]: a 1-D f32 .npy of N values 0.5, 1.5, ... (times S);
check-double X Y: prints 'N elements doubled' if Y == 2 * X elementwise;
check-sum X Y Z: 'N elements summed' if Z == X + Y (no NumPy needed)."""
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
        scale = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
        f.write(struct.pack("<%df" % n, *[(i + 0.5) * scale for i in range(n)]))
elif sys.argv[1] == "check-sum":
    x, y, z = read(sys.argv[2]), read(sys.argv[3]), read(sys.argv[4])
    ok = len(x) == len(y) == len(z) and all(
        c == a + b for a, b, c in zip(x, y, z))
    print("%d elements summed" % len(x) if ok else "MISMATCH")
else:
    x, y = read(sys.argv[2]), read(sys.argv[3])
    ok = len(x) == len(y) and all(b == 2 * a for a, b in zip(x, y))
    print("%d elements doubled" % len(x) if ok else "MISMATCH")
