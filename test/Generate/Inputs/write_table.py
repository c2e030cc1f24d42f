#!/usr/bin/env python3
"""Writes a moa-train style checkpoint for known_logits.mlir: tensor
p.table [6, 6], every row the logits 2, 1, 0.5, 0, -1, -2. PATH."""
import json
import struct
import sys

row = [2.0, 1.0, 0.5, 0.0, -1.0, -2.0]
data = b"".join(struct.pack("<6f", *row) for _ in range(6))
header = {"p.table": {"dtype": "F32", "shape": [6, 6],
                      "data_offsets": [0, len(data)]},
          "__metadata__": {"format": "moa-train 1"}}
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
