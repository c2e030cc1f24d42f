"""f32 -> bf16 rounding of a compiled module against exact rational rounding.

make X: random f32 values and, scattered through them (in the vectorised
body and the scalar tail of the loops), the cases that matter: ties (to the
even neighbour), values just above and below a tie, NaNs of every payload
and sign (a quiet NaN, 0x7fc0, whatever the payload), infinities, the
largest finite f32 (rounds to infinity), subnormals, signed zeros.
check X Y: each bf16 of Y (uint16 bits) against the reference below, which
rounds by comparing distances to the two bf16 neighbours as fractions, not
by the bit arithmetic the compiler emits.
"""
import struct
import sys
from fractions import Fraction

import numpy as np

SPECIAL = [0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0xBF808000,
           0xBF818000, 0x7F800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FC00000,
           0xFFC00001, 0x7FBFFFFF, 0x7F800000, 0xFF800000, 0x7F7FFFFF,
           0xFF7FFFFF, 0x7F7F7FFF, 0x00000001, 0x00008000, 0x00018000,
           0x807FFFFF, 0x00000000, 0x80000000, 0x3F800000]


def value(bits):
    """The exact value of finite f32 or bf16 (<< 16) bits."""
    return Fraction(struct.unpack("<f", struct.pack("<I", bits))[0])


def reference(bits):
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return 0x7FC0  # NaN: quiet, sign dropped
    if (bits & 0x7FFFFFFF) == 0x7F800000:
        return bits >> 16  # infinities
    x = value(bits)
    sign = bits & 0x80000000
    low = (bits & 0x7FFFFFFF) >> 16  # magnitude truncated: a bf16 at or below
    high = low + 1  # the next bf16 up (0x7f80, infinity, past the largest)
    lo_v = value(low << 16)
    hi_v = (value(high << 16) if high < 0x7F80 else
            Fraction(2) ** 128)  # rounding to infinity as IEEE does
    d_lo, d_hi = abs(x) - lo_v, hi_v - abs(x)
    pick = low if d_lo < d_hi or (d_lo == d_hi and low % 2 == 0) else high
    return (sign >> 16) | pick


def main():
    if sys.argv[1] == "make":
        rng = np.random.default_rng(7)
        bits = rng.normal(0, 3, 4096 + 13).astype(np.float32).view(np.uint32)
        for i, special in enumerate(SPECIAL):
            bits[(i * 167) % 4096] = special
            bits[4096 + i % 13] = special
        np.save(sys.argv[2], bits.view(np.float32))
        return
    x = np.load(sys.argv[2]).view(np.uint32)
    y = np.load(sys.argv[3])
    assert y.dtype == np.uint16 and y.shape == x.shape, (y.dtype, y.shape)
    wrong = [(int(a), int(b)) for a, b in zip(x, y) if reference(int(a)) != b]
    for a, b in wrong[:5]:
        print(f"f32 {a:#010x}: bf16 {b:#06x}, expected {reference(a):#06x}")
    print(f"{len(x)} values, {len(SPECIAL)} special cases: "
          f"{len(wrong)} rounded wrongly")


if __name__ == "__main__":
    main()
