# moa.multi_head_attention compiled for the CPU with its gradient function
# (moa-generate-gradients), against autograd of the float64 PyTorch
# reference (Inputs/reference.py): output within 1e-5 and the gradients of
# x, memory and the four weights within 1e-4, relative to the reference's
# largest magnitude, for self-attention (plain; causal with key padding) and
# cross-attention with key padding (a fully padded sequence included); and
# the forward compiled for the GPU, run by the emulator (the heads folded by
# the elementwise kernels, the attention kernel over B*H sequences, the
# projections' GEMM kernel): causal self-attention with key padding, within
# 1e-5.
# REQUIRES: torch
# RUN: rm -rf %t && MOA_CACHE_DIR=%t %python %s | FileCheck %s
# CHECK-NOT: FAIL
# CHECK: PASS self
# CHECK: PASS self-causal-key-padding
# CHECK: PASS cross-key-padding-empty-row
# CHECK: PASS gpu-emulated-self-causal-key-padding
# CHECK: 4 configurations, 0 failed
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "Inputs"))
import reference  # noqa: E402

import moa  # noqa: E402

B, T, S, d, H, h = 2, 9, 6, 32, 4, 8


def module(cross, masked, causal, gpu=False):
    t = f"tensor<?x?x{d}xf32>"
    w, wo = f"tensor<{d}x{H}x{h}xf32>", f"tensor<{H}x{h}x{d}xf32>"
    args = [f"%x: {t}", f"%wq: {w}", f"%wk: {w}", f"%wv: {w}", f"%wo: {wo}"]
    clauses = ""
    if cross:
        args.append(f"%mem: {t}")
        clauses += f" memory(%mem : {t})"
    if masked:
        args.append("%kpm: tensor<?x?xi1>")
        clauses += " key_padding_mask(%kpm : tensor<?x?xi1>)"
    attrs = " {causal}" if causal else ""
    return moa.compile(
        f"func.func @mha({', '.join(args)}) -> {t} {{\n"
        f"  %y = moa.multi_head_attention %x, %wq, %wk, %wv, %wo{clauses}"
        f"{attrs}\n      : {t}, {w}, {w}, {w}, {wo}\n"
        f"  return %y : {t}\n}}\n",
        target="cuda" if gpu else "cpu",
        pre_pipeline=None if gpu else "moa-generate-gradients",
        options=["--emulate-gpu"] if gpu else ())


def relative(ours, ref):
    return ((ours.double() - ref).abs().max() /
            ref.abs().max().clamp_min(1e-30)).item()


def check(name, cross=False, masked=None, causal=False, gpu=False):
    gen = torch.Generator().manual_seed(len(name))
    x = torch.rand(B, T, d, generator=gen) * 2 - 1
    weights = [torch.randn(d, H, h, generator=gen) * d ** -0.5
               for _ in range(3)]
    weights.append(torch.randn(H, h, d, generator=gen) * h ** -0.5)
    inputs = [x] + weights
    if cross:
        inputs.append(torch.rand(B, S, d, generator=gen) * 2 - 1)
    mask = None
    if masked:
        mask = torch.rand(B, S if cross else T, generator=gen) < 0.3
        mask[0, 0] = False
        if masked == "empty-row":
            mask[1, :] = True
    d_y = torch.randn(B, T, d, generator=gen)
    compiled = module(cross, mask is not None, causal, gpu)
    extra = [mask] if mask is not None else []
    (y,) = compiled.mha(*inputs, *extra)

    leaves = [t.double().requires_grad_(True) for t in inputs]
    ref = reference.multi_head_attention(
        *leaves[:5], memory=leaves[5] if cross else None,
        key_padding_mask=mask, causal=causal)
    forward = relative(y, ref)
    if gpu:
        ok = forward <= 1e-5
        print(f"{'PASS' if ok else 'FAIL'} {name}: forward {forward:.1e}")
        return ok
    grads = compiled.mha_grad(*inputs, *extra, d_y)
    (ref * d_y.double()).sum().backward()
    errors = [relative(g, leaf.grad) for g, leaf in zip(grads, leaves)]
    ok = forward <= 1e-5 and max(errors) <= 1e-4
    print(f"{'PASS' if ok else 'FAIL'} {name}: forward {forward:.1e}, "
          "gradients " + " ".join(f"{e:.1e}" for e in errors))
    return ok


configs = [("self", {}),
           ("self-causal-key-padding", {"masked": "some", "causal": True}),
           ("cross-key-padding-empty-row", {"cross": True,
                                            "masked": "empty-row"}),
           ("gpu-emulated-self-causal-key-padding",
            {"masked": "some", "causal": True, "gpu": True})]
failed = sum(not check(name, **options) for name, options in configs)
print(f"{len(configs)} configurations, {failed} failed")
