#!/usr/bin/env python3
"""An independent safetensors reader and writer (standard library only).

  safetensors_check.py dump FILE   checks the layout of FILE and prints its
                                   metadata and, per tensor, name, dtype,
                                   shape and first values
  safetensors_check.py write FILE  writes a checkpoint the way other tools
                                   do: spaces in the JSON, keys in another
                                   order, data not in header order
"""
import json
import struct
import sys

FORMATS = {"F32": ("<f", 4), "F16": ("<e", 2), "BF16": ("<H", 2),
           "I32": ("<i", 4), "BOOL": ("<?", 1)}


def no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate keys %r" % keys
    return dict(pairs)


def dump(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    assert 8 + size <= len(data), "header past the end"
    assert size % 8 == 0, "header of %d bytes is not padded to 8" % size
    text = data[8:8 + size].decode("utf-8")
    assert text.startswith("{") and text.rstrip(" ").endswith("}"), text
    header = json.loads(text, object_pairs_hook=no_duplicates)
    buffer = data[8 + size:]
    metadata = header.pop("__metadata__", {})
    for key in sorted(metadata):
        print("metadata %s = %s" % (key, metadata[key]))
    # The tensors must tile the data, in header order for moa's writer.
    end = 0
    for name, info in header.items():
        begin, stop = info["data_offsets"]
        assert begin == end, "%s starts at %d, not %d" % (name, begin, end)
        fmt, width = FORMATS[info["dtype"]]
        count = 1
        for n in info["shape"]:
            count *= n
        assert stop - begin == count * width, name
        values = [struct.unpack_from(fmt, buffer, begin + i * width)[0]
                  for i in range(min(count, 4))]
        if info["dtype"] == "BF16":
            values = [struct.unpack("<f", struct.pack("<I", v << 16))[0]
                      for v in values]
        print("%s %s %s: %s" % (name, info["dtype"], info["shape"],
                                " ".join("%g" % v for v in values)))
        end = stop
    assert end == len(buffer), "%d bytes after the last tensor" % (
        len(buffer) - end)


def write(path):
    bf16 = [struct.unpack("<I", struct.pack("<f", v))[0] >> 16
            for v in (1.5, -2.0, 3.0)]
    tensors = [  # name, dtype, shape, bytes
        ("z.last", "I32", [2], struct.pack("<2i", 7, -7)),
        ("a.first", "F32", [2, 2], struct.pack("<4f", 0.25, 0.5, 1, 2)),
        ("h", "F16", [3], struct.pack("<3e", 1, -0.5, 65504)),
        ("b", "BF16", [3], struct.pack("<3H", *bf16)),
        ("m", "BOOL", [4], bytes([1, 0, 0, 1])),
    ]
    # The data in reverse order of the header.
    header, blob = {}, b""
    for name, dtype, shape, raw in reversed(tensors):
        header[name] = (len(blob), dtype, shape)
        blob += raw
    ordered = {}
    for name, dtype, shape, raw in tensors:
        begin = header[name][0]
        ordered[name] = {"data_offsets": [begin, begin + len(raw)],
                         "shape": shape, "dtype": dtype}
    ordered["__metadata__"] = {"format": "pt", "note": "caf\u00e9 \"x\""}
    text = json.dumps(ordered).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


if __name__ == "__main__":
    {"dump": dump, "write": write}[sys.argv[1]](sys.argv[2])
