# moa.torch.MixtureOfAttention (forward and backward run moa-compiled code)
# against autograd of the float64 reference (Inputs/reference.py): output
# within 1e-5 and every gradient (x, the five weights, memory) within 1e-4,
# relative to the reference's largest magnitude, on random inputs with a
# well-spread router, for self- and cross-attention, causal and key-padding
# masks (a fully padded sequence included), and both gate conventions. The
# loss also uses the router logits (the aux losses), so their gradient path
# is checked too. A bf16 layer (bf16 forward; backward in f32 on the widened
# values, gradients rounded to bf16) is held to 2e-2 and 1e-2: bf16 keeps 8
# significant bits.
# REQUIRES: torch
# RUN: rm -rf %t && MOA_CACHE_DIR=%t %python %s | FileCheck %s
# CHECK-NOT: FAIL
# CHECK: PASS self
# CHECK: PASS self-causal
# CHECK: PASS self-key-padding-empty-row
# CHECK: PASS cross-key-padding
# CHECK: PASS cross-causal-topk-softmax
# CHECK: PASS self-renormalize
# CHECK: PASS self-causal-bf16
# CHECK: 7 configurations, 0 failed
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "Inputs"))
import reference  # noqa: E402

import moa.torch as mt  # noqa: E402

B, T, S, d, E, k, h = 2, 9, 7, 32, 4, 2, 16
CONFIGS = [
    ("self", {}),
    ("self-causal", {"causal": True}),
    ("self-key-padding-empty-row", {"key_padding": "empty-row"}),
    ("cross-key-padding", {"cross": True, "key_padding": "some"}),
    ("cross-causal-topk-softmax", {"cross": True, "causal": True,
                                   "gating": "topk_softmax"}),
    ("self-renormalize", {"renormalize": True}),
    ("self-causal-bf16", {"causal": True, "dtype": torch.bfloat16}),
]


def relative(ours, ref):
    return ((ours.double() - ref).abs().max() /
            ref.abs().max().clamp_min(1e-30)).item()


def check(name, cross=False, key_padding=None, dtype=torch.float32,
          **options):
    torch.manual_seed(len(name))  # the layer's initialisation
    gen = torch.Generator().manual_seed(len(name))
    layer = mt.MixtureOfAttention(d, E, k, h, dtype=dtype, **options)
    with torch.no_grad():  # a spread router: well separated top-k choices
        layer.w_gate.normal_(0, 1, generator=gen)
    x = (torch.rand(B, T, d, generator=gen) * 2 - 1).to(dtype)
    memory = (torch.rand(B, S, d, generator=gen) * 2 - 1).to(dtype) \
        if cross else None
    keys = S if cross else T
    mask = None
    if key_padding:
        mask = torch.rand(B, keys, generator=gen) < 0.3
        mask[0, 0] = False
        if key_padding == "empty-row":
            mask[1, :] = True
    d_y = torch.randn(B, T, d, generator=gen, dtype=torch.float64)
    if dtype != torch.float32:  # what a bf16 output's gradient can be
        d_y = d_y.to(dtype).double()
    d_logits = torch.randn(B, T, E, generator=gen, dtype=torch.float64)

    x.requires_grad_(True)
    if memory is not None:
        memory.requires_grad_(True)
    y = layer(x, key_padding_mask=mask, memory=memory)
    ((y.double() * d_y).sum() +
     (layer.router_logits.double() * d_logits).sum()).backward()
    ours = [x.grad] + [p.grad for p in (layer.w_gate, layer.w_query,
                                        layer.w_key, layer.w_value,
                                        layer.w_out)]
    if memory is not None:
        ours.append(memory.grad)

    leaves = [t.detach().double().requires_grad_(True)
              for t in [x, layer.w_gate, layer.w_query, layer.w_key,
                        layer.w_value, layer.w_out] +
              ([memory] if memory is not None else [])]
    ref_y, ref_logits = reference.moa_layer(
        *leaves[:6], k, memory=leaves[6] if cross else None,
        key_padding_mask=mask, **options)
    ((ref_y * d_y).sum() + (ref_logits * d_logits).sum()).backward()

    forward = max(relative(y, ref_y), relative(layer.router_logits,
                                               ref_logits))
    grads = [relative(o, r.grad) for o, r in zip(ours, leaves)]
    tolerances = (1e-5, 1e-4) if dtype == torch.float32 else (2e-2, 1e-2)
    ok = forward <= tolerances[0] and max(grads) <= tolerances[1] and \
        not torch.isnan(y).any()
    print(f"{'PASS' if ok else 'FAIL'} {name}: forward {forward:.1e}, "
          "gradients " + " ".join(f"{g:.1e}" for g in grads))
    return ok


failed = sum(not check(name, **options) for name, options in CONFIGS)
print(f"{len(CONFIGS)} configurations, {failed} failed")
