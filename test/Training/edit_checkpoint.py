#!/usr/bin/env python3
"""Copies a safetensors checkpoint with one tensor's dtype changed (same
byte size), as a hand edit or a bad tool would: SRC DST NAME DTYPE."""
import json
import struct
import sys

src, dst, name, dtype = sys.argv[1:5]
with open(src, "rb") as f:
    data = f.read()
size = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + size])
header[name]["dtype"] = dtype
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data[8 + size:])
