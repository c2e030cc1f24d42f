#!/usr/bin/env python3
"""Writes the seed corpus of the reader fuzz targets (test/Fuzz/corpus), valid
inputs of each format for libFuzzer to mutate. Run once; the files are
committed. (The pipeline target's seeds, corpus/pipeline, are modules copied
from the examples and test inputs.) Usage: make_seeds.py [DIR]"""
import json
import os
import struct
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy(descr, shape, payload):
    dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, dims)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) +
            header.encode() + payload)


put("npy", "f32_2x3.npy", npy("<f4", (2, 3), struct.pack("<6f", *range(6))))
put("npy", "i32_4.npy", npy("<i4", (4,), struct.pack("<4i", 1, -2, 3, 7)))
put("npy", "bool_2x2.npy", npy("|b1", (2, 2), bytes([1, 0, 0, 1])))
put("npy", "f32_scalar.npy", npy("<f4", (), struct.pack("<f", 0.5)))


def safetensors(tensors, metadata):
    header, payload = {}, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


put("safetensors", "two.safetensors", safetensors(
    [("p.w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
     ("step", "I32", [1], struct.pack("<i", 3))],
    {"seed": "1", "task": "copy"}))
put("safetensors", "empty.safetensors", safetensors([], {}))

put("manifest", "layer.txt",
    "moa-manifest 2\nentry moa_layer 6 1\narg f32 3 ? ? 256\n"
    "arg f32 2 256 8\narg f32 3 8 256 64\narg f32 2 256 64\n"
    "arg f32 2 256 64\narg f32 3 8 64 256\nresult f32 3 ? ? 256\n")
put("manifest", "named.txt",
    "moa-manifest 2\nentry loss 2 1\narg f32 2 64 32 init=normal:0.1\n"
    "arg i32 2 ? ? name=tokens\nresult f32 0 name=loss\n")

for i, text in enumerate(["42", "-7", "1e-3", "0.5", "9223372036854775807"]):
    put("numbers", "n%d.txt" % i, text)
