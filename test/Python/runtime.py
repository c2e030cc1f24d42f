# python/moa over the runtime: moa.compile (and its cache), entries and
# signatures, calls on NumPy arrays and torch tensors with the caller's
# buffers read in place (the runtime reports the addresses the compiled code
# read), non-contiguous inputs made contiguous once, results viewed without
# a copy, bf16 as torch.bfloat16 and as NumPy uint16 bits, routing
# statistics; and every error a Python exception with the runtime's or the
# compiler's message, after which the interpreter goes on.
# REQUIRES: torch
# RUN: rm -rf %t && MOA_CACHE_DIR=%t %python %s %moa_src_root | FileCheck %s
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "Inputs"))
import reference  # noqa: E402

import moa  # noqa: E402
import moa.torch as mt  # noqa: E402

root = sys.argv[1]
rng = np.random.default_rng(7)
B, T, d, E, k, h = 2, 5, 256, 8, 2, 64

# CHECK: entries: moa_layer(tensor<?x?x256xf32>, tensor<256x8xf32>, tensor<8x256x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>, tensor<8x64x256xf32>) -> (tensor<?x?x256xf32>)
module = moa.compile(os.path.join(root, "examples", "moa_layer.mlir"))
print("entries:", *module.entries.values())
# CHECK: cached: True
library = module.path
print("cached:", moa.compile(os.path.join(root, "examples",
                                          "moa_layer.mlir")).path == library
      and len([f for f in os.listdir(moa.cache_dir())
               if f.endswith(".so")]) == 1)

x = rng.uniform(-1, 1, (B, T, d)).astype(np.float32)
weights = [rng.normal(0, 1, (d, E)), rng.normal(0, d ** -0.5, (E, d, h)),
           rng.normal(0, d ** -0.5, (d, h)), rng.normal(0, d ** -0.5, (d, h)),
           rng.normal(0, h ** -0.5, (E, h, d))]
weights = [w.astype(np.float32) for w in weights]
ref, _ = reference.moa_layer(*[torch.from_numpy(a).double()
                               for a in [x] + weights], k)
ref = ref.numpy()


def error(y):
    return np.abs(y - ref).max() / np.abs(ref).max()


# CHECK: numpy: ndarray float32 (2, 5, 256), matches the f64 reference: True
(y,) = module.moa_layer(x, *weights)
print(f"numpy: {type(y).__name__} {y.dtype} {y.shape}, matches the f64 "
      f"reference: {error(y) < 1e-5}")
# CHECK: numpy inputs read in place: True, copies: []
stats = module.last_stats
in_place = stats.argument_addresses == [a.ctypes.data for a in [x] + weights]
print(f"numpy inputs read in place: {in_place}, copies: "
      f"{stats.copied_arguments}")
# CHECK: result owned by the runtime, not copied: True
print("result owned by the runtime, not copied:",
      type(y.base).__name__ == "_Output")
# CHECK: routing: 1 route, 20 pairs
print(f"routing: {len(module.routing)} route, {module.routing[0].sum()} pairs")

# CHECK: torch: Tensor torch.float32, matches: True, read in place: True
tensors = [torch.from_numpy(a) for a in [x] + weights]
(yt,) = module.moa_layer(*tensors)
in_place = module.last_stats.argument_addresses == [t.data_ptr()
                                                    for t in tensors]
print(f"torch: {type(yt).__name__} {yt.dtype}, matches: "
      f"{error(yt.numpy()) < 1e-5}, read in place: {in_place}")

# A transposed view is copied once to be contiguous; the others are not.
# CHECK: non-contiguous: copies [1], weight read from a copy: True, matches: True
w_gate_t = np.ascontiguousarray(weights[0].T).T
(y2,) = module.moa_layer(x, w_gate_t, *weights[1:])
copied = module.last_stats.argument_addresses[1] != w_gate_t.ctypes.data
print(f"non-contiguous: copies {module.last_stats.copied_arguments}, weight "
      f"read from a copy: {copied}, matches: {error(y2) < 1e-5}")


def expect_error(what, call):
    try:
        call()
        print(what, "error: none raised")
    except (moa.MoAError, AttributeError, TypeError, ValueError) as e:
        print(what, "error:", type(e).__name__, str(e))


# CHECK: dtype error: MoAError argument 0 of 'moa_layer' has dtype float64, which moa does not take (f32 expected)
expect_error("dtype", lambda: module.moa_layer(x.astype(np.float64),
                                               *weights))
# CHECK: wrong dtype error: MoAError argument 0 of 'moa_layer' must be f32, got f16
expect_error("wrong dtype", lambda: module.moa_layer(x.astype(np.float16),
                                                     *weights))
# CHECK: shape error: MoAError argument 2 of 'moa_layer' must have shape [8, 256, 64], got [8, 256, 32]
expect_error("shape", lambda: module.moa_layer(
    x, weights[0], weights[1][:, :, :32], *weights[2:]))
# CHECK: count error: MoAError entry 'moa_layer' takes 6 arguments, got 2
expect_error("count", lambda: module.moa_layer(x, weights[0]))
# CHECK: device error: MoAError argument 0 of 'moa_layer' is a tensor on meta; this module takes host (CPU) tensors
expect_error("device", lambda: module.moa_layer(
    torch.empty(B, T, d, device="meta"), *tensors[1:]))
# CHECK: entry error: MoAError no entry point 'nope'
expect_error("entry", lambda: module("nope", x))
# CHECK: attribute error: AttributeError moa module {{.*}} has no entry 'nope' (entries: moa_layer)
expect_error("attribute", lambda: module.nope)
# CHECK: file error: MoAError cannot load module '/nonexistent.so'
expect_error("file", lambda: moa.load("/nonexistent.so"))
# CHECK: not a module error: MoAError {{.*}}libMoARuntime.so{{.*}}moa_manifest
expect_error("not a module", lambda: moa.load(
    os.path.join(os.environ["MOA_HOME"], "lib", "libMoARuntime.so")))
# CHECK: compile error: MoAError moa-compile failed on {{.*}}.mlir:
# CHECK-NEXT: {{.*}}.mlir:2:17: error: 'moa.mixture_attention' op k = 9 must be in [1, E] with E = 8
expect_error("compile", lambda: moa.compile(mt.layer_mlir(
    256, 8, 9, 64)))
# CHECK: layer dtype error: TypeError MixtureOfAttention: x is torch.float64, the layer torch.float32
expect_error("layer dtype", lambda: mt.MixtureOfAttention(d, E, k, h)(
    torch.zeros(1, 2, d, dtype=torch.float64)))
# CHECK: layer gating error: ValueError MixtureOfAttention: gating must be one of ('softmax_topk', 'topk_softmax'), got 'top2'
expect_error("layer gating", lambda: mt.MixtureOfAttention(
    d, E, k, h, gating="top2"))

# bf16: torch.bfloat16 tensors, or NumPy uint16 arrays of bf16 bits.
# CHECK: bf16 torch: torch.bfloat16, matches: True
# CHECK: bf16 numpy: uint16, same bits as torch: True
text = mt.layer_mlir(d, E, k, h, dtype="bf16")
bf16 = moa.compile(text)
args = [torch.from_numpy(x).bfloat16(), tensors[1]] + \
    [t.bfloat16() for t in tensors[2:]]
yb, _ = bf16.moa_layer(*args)
print(f"bf16 torch: {yb.dtype}, matches: {error(yb.float().numpy()) < 3e-2}")
bits = [a.view(torch.int16).numpy().view(np.uint16) if a.dtype ==
        torch.bfloat16 else a.numpy() for a in args]
yn, _ = bf16.moa_layer(*bits)
same = np.array_equal(yn, yb.view(torch.int16).numpy().view(np.uint16))
print(f"bf16 numpy: {yn.dtype}, same bits as torch: {same}")
# CHECK: still running
print("still running")
