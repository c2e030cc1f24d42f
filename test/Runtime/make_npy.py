#!/usr/bin/env python3
"""Writes the .npy files runtime-errors.mlir feeds moa-run (no NumPy needed).

Valid inputs of examples/moa_layer.mlir (x [2, 5, 256], weights), and broken
ones: wrong rank, wrong dtype, wrong static size, truncated data, garbage,
Fortran order, big-endian; data the compiled code must reject: an expert
index out of range, a key mask whose length disagrees with x.
"""
import random
import struct
import sys


def npy(path, descr, shape, values=None, fortran=False, data=None):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False",
        "".join("%d, " % s for s in shape))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    if data is None:
        count = 1
        for s in shape:
            count *= s
        rng = random.Random(len(path))
        if descr == "<f4":
            data = struct.pack("<%df" % count,
                               *[rng.uniform(-0.5, 0.5) for _ in range(count)])
        elif descr == "<f8":
            data = struct.pack("<%dd" % count, *[0.25] * count)
        elif descr == "<i4":
            data = struct.pack("<%di" % count, *values)
        elif descr == "|b1":
            data = bytes(values if values is not None else [0] * count)
        elif descr == ">f4":
            data = struct.pack(">%df" % count, *[0.25] * count)
        else:
            raise ValueError(descr)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(data)


def header_only(path, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode("latin1") + b"\0" * 64)


def long_header(path, length):
    """A valid v2.0 file of 4 f32 whose header is `length` bytes of padding
    (NumPy allows up to 4 GiB): readers must not choke on it."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
    header += " " * (length - len(header) - 1) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack("<4f", 1.0, -2.0, 0.5, 4.0))


def main():
    out = sys.argv[1]
    npy(out + "/x.npy", "<f4", (2, 5, 256))
    npy(out + "/wg.npy", "<f4", (256, 8))
    npy(out + "/wq.npy", "<f4", (8, 256, 64))
    npy(out + "/wk.npy", "<f4", (256, 64))
    npy(out + "/wv.npy", "<f4", (256, 64))
    npy(out + "/wo.npy", "<f4", (8, 64, 256))
    npy(out + "/x_rank2.npy", "<f4", (10, 256))
    npy(out + "/x_f64.npy", "<f8", (2, 5, 256))
    npy(out + "/x_width128.npy", "<f4", (2, 5, 128))
    npy(out + "/x_fortran.npy", "<f4", (2, 5, 256), fortran=True)
    npy(out + "/x_bigendian.npy", ">f4", (2, 5, 256))
    npy(out + "/x_truncated.npy", "<f4", (2, 5, 256), data=b"\0" * 100)
    # An expert index 9 with E = 8, and a key mask longer than x's sequence.
    npy(out + "/bad_indices.npy", "<i4", (1, 2, 2), values=[0, 9, 1, -1])
    npy(out + "/mask_7.npy", "|b1", (2, 7))
    # Entries of Inputs/entries.mlir.
    npy(out + "/v4.npy", "<f4", (4,), values=None)
    npy(out + "/v3.npy", "<f4", (3,), values=None)
    npy(out + "/logits_2x3.npy", "<f4", (2, 3, 4))
    npy(out + "/indices_1x1.npy", "<i4", (1, 1, 2), values=[0, 1])
    npy(out + "/logits_e2.npy", "<f4", (1, 3, 2))
    npy(out + "/x_1x2x8.npy", "<f4", (1, 2, 8))
    npy(out + "/w_8x4.npy", "<f4", (8, 4))
    npy(out + "/init_1x3x4.npy", "<f4", (1, 3, 4))
    npy(out + "/x_0x5x8.npy", "<f4", (0, 5, 8))
    npy(out + "/w_2x8x4.npy", "<f4", (2, 8, 4))
    npy(out + "/perm_empty.npy", "<i4", (0,), values=[])
    npy(out + "/offsets_3.npy", "<i4", (3,), values=[0, 0, 0])
    # Cross-attention: a memory of x_1x2x8's batch, and one of batch 2.
    npy(out + "/mem_1x4x8.npy", "<f4", (1, 4, 8))
    npy(out + "/mem_2x4x8.npy", "<f4", (2, 4, 8))
    npy(out + "/wg_8x2.npy", "<f4", (8, 2))
    npy(out + "/wo_2x4x8.npy", "<f4", (2, 4, 8))
    npy(out + "/wo_2x4x16.npy", "<f4", (2, 4, 16))
    npy(out + "/mem_1x4x16.npy", "<f4", (1, 4, 16))
    # Attention inputs: a mask whose "true" is byte 2 instead of 1, and
    # value rows with inf and NaN that are all padding.
    npy(out + "/q_1x2.npy", "<f4", (1, 2, 1, 4))
    npy(out + "/k_1x3.npy", "<f4", (1, 3, 4))
    npy(out + "/v_1x3.npy", "<f4", (1, 3, 4))
    # A NaN in key 1: visible under mask_000, padded under mask_010.
    npy(out + "/k_nan.npy", "<f4", (1, 3, 4),
        data=struct.pack("<12f", *([0.5] * 4 + [float("nan")] + [0.25] * 7)))
    npy(out + "/mask_000.npy", "|b1", (1, 3), values=[0, 0, 0])
    npy(out + "/mask_010.npy", "|b1", (1, 3), values=[0, 1, 0])
    # Routing indices of logits_2x3 (E = 4) with an expert 4 and a -2.
    npy(out + "/indices_e4.npy", "<i4", (2, 3, 2),
        values=[0, 1, 2, 3, -1, -1, 1, 4, 0, 2, 3, 1])
    npy(out + "/indices_m2.npy", "<i4", (2, 3, 2),
        values=[0, 1, 2, 3, -1, -1, 1, -2, 0, 2, 3, 1])
    npy(out + "/v_inf.npy", "<f4", (1, 3, 4),
        values=[float("inf")] * 4 + [float("nan")] * 4 + [1.0] * 4)
    npy(out + "/mask_101.npy", "|b1", (1, 3), values=[1, 0, 1])
    npy(out + "/mask_202.npy", "|b1", (1, 3), values=[2, 0, 2])
    npy(out + "/mask_all.npy", "|b1", (1, 3), values=[1, 1, 1])
    # Shapes no file could hold.
    header_only(out + "/huge_digits.npy", "(123456789012345678901234, )")
    header_only(out + "/huge_product.npy", "(1099511627776, 4194304, 4, )")
    header_only(out + "/huge_dim.npy", "(1099511627776, )")
    # Headers that only look like one: sizes that are not plain non-negative
    # integers, a key twice, a key NumPy never writes.
    header_only(out + "/shape_negative.npy", "(-2, )")
    header_only(out + "/shape_float.npy", "(3.0, )")
    header_only(out + "/shape_suffix.npy", "(3x, )")
    header_only(out + "/shape_long.npy", "(2L, )")
    header_only(out + "/shape_gap.npy", "(2 3, )")
    header_only(out + "/duplicate_key.npy", "(4, ), 'shape': (4, )")
    header_only(out + "/unknown_key.npy", "(4, ), 'order': 'C'")
    long_header(out + "/long_header.npy", 60000)
    # AdamW step counts: a valid one and the two that would give NaN.
    npy(out + "/step_1.npy", "<f4", (), data=struct.pack("<f", 1.0))
    npy(out + "/step_0.npy", "<f4", (), data=struct.pack("<f", 0.0))
    npy(out + "/step_nan.npy", "<f4", (), data=struct.pack("<f", float("nan")))
    with open(out + "/garbage.npy", "wb") as f:
        f.write(b"this is not a numpy file at all")
    with open(out + "/not_a_module.so", "wb") as f:
        f.write(b"\x7fELF garbage")


if __name__ == "__main__":
    main()
