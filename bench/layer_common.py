"""What the benchmarks share: the layer module they compile, its inputs,
bf16 conversion and the layer's multiply-accumulate count. No torch here:
bench/gpu/bundle.sh compiles with it where PyTorch need not be."""
import numpy as np


def module_text(d, E, k, h, dtype):
    t = dtype  # activations and weights; the router weight stays f32
    x = f"tensor<?x?x{d}x{t}>"
    types = (f"{x}, tensor<{d}x{E}xf32>, tensor<{E}x{d}x{h}x{t}>, "
             f"tensor<{d}x{h}x{t}>, tensor<{d}x{h}x{t}>, tensor<{E}x{h}x{d}x{t}>")
    return (
        f"func.func @moa_layer(%x: {x}, %wg: tensor<{d}x{E}xf32>, "
        f"%wq: tensor<{E}x{d}x{h}x{t}>, %wk: tensor<{d}x{h}x{t}>, "
        f"%wv: tensor<{d}x{h}x{t}>, %wo: tensor<{E}x{h}x{d}x{t}>) -> {x} {{\n"
        f"  %y, %l = moa.mixture_attention %x, %wg, %wq, %wk, %wv, %wo k({k})\n"
        f"      : {types}\n  return %y : {x}\n}}\n")


def to_bf16_bits(a):
    """f32 array -> bf16 bits (round to nearest even), as uint16."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(u):
    return (u.astype(np.uint32) << 16).view(np.float32)


def macs(B, T, d, E, k, h):
    tokens = B * T
    return tokens * (d * E + 2 * k * d * h) + tokens * 2 * d * h + \
        B * T * T * 2 * k * h


def layer_inputs(rng, B, T, d, E, h):
    """x, w_gate, w_query, w_key, w_value, w_out in f32. Router weights N(0, 1)
    against x uniform in [-1, 1] give logits with a spread of about 13, so the
    top-k choice is well separated and the same for moa and PyTorch."""
    inputs = [
        rng.uniform(-1, 1, (B, T, d)),
        rng.normal(0, 1, (d, E)),
        rng.normal(0, d ** -0.5, (E, d, h)),
        rng.normal(0, d ** -0.5, (d, h)),
        rng.normal(0, d ** -0.5, (d, h)),
        rng.normal(0, h ** -0.5, (E, h, d)),
    ]
    return [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
