"""MixtureOfAttention: the MoA layer as a PyTorch module whose forward and
backward run moa-compiled code.

For each configuration (sizes, dtype, masks, cross-attention, gating) the
layer's MLIR is generated, compiled once with its gradient function
(moa-generate-gradients) and cached (moa.compile's disk cache, and in
memory). Tensors go to the runtime without copies where contiguous. With
PyTorch 2.4 or later the layer is the custom op `moa::mixture_attention`
(torch.library), which torch.compile traces around; with older PyTorch it is
a torch.autograd.Function.
"""
import functools
import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from ._compiler import compile as _compile

_DTYPES = {torch.float32: "f32", torch.bfloat16: "bf16"}
_GATINGS = ("softmax_topk", "topk_softmax")


def layer_mlir(d_model, num_experts, top_k, head_dim, dtype="f32",
               causal=False, gating="softmax_topk", renormalize=False,
               cross=False, key_padding=False):
    """The MLIR of @moa_layer(x, w_gate, w_query, w_key, w_value, w_out,
    [memory], [key_padding_mask]) -> (y, router_logits), one
    moa.mixture_attention with dynamic batch and sequence sizes."""
    d, E, h, t = d_model, num_experts, head_dim, dtype
    x = f"tensor<?x?x{d}x{t}>"
    weights = [("w_gate", f"tensor<{d}x{E}xf32>"),
               ("w_query", f"tensor<{E}x{d}x{h}x{t}>"),
               ("w_key", f"tensor<{d}x{h}x{t}>"),
               ("w_value", f"tensor<{d}x{h}x{t}>"),
               ("w_out", f"tensor<{E}x{h}x{d}x{t}>")]
    args = [("x", x)] + weights
    clauses = ""
    if cross:
        args.append(("memory", x))
        clauses += f" memory(%memory : {x})"
    if key_padding:
        args.append(("key_padding_mask", "tensor<?x?xi1>"))
        clauses += " key_padding_mask(%key_padding_mask : tensor<?x?xi1>)"
    attrs = [name for name, on in (("causal", causal),
                                   ("renormalize", renormalize)) if on]
    if gating != "softmax_topk":
        attrs.append(f"gating = #moa.gating<{gating}>")
    signature = ", ".join(f"%{name}: {ty}" for name, ty in args)
    operands = ", ".join(f"%{name}" for name, _ in args[:6])
    types = ", ".join(ty for _, ty in args[:6])
    logits = f"tensor<?x?x{E}xf32>"
    return (f"func.func @moa_layer({signature}) -> ({x}, {logits}) {{\n"
            f"  %y, %logits = moa.mixture_attention {operands} k({top_k})"
            f"{clauses}{' {' + ', '.join(attrs) + '}' if attrs else ''}\n"
            f"      : {types}\n"
            f"  return %y, %logits : {x}, {logits}\n}}\n")


@functools.lru_cache(maxsize=None)
def _module(d_model, num_experts, top_k, head_dim, dtype, causal, gating,
            renormalize, cross, key_padding):
    """The compiled layer: @moa_layer and, in f32, @moa_layer_grad (a bf16
    layer's backward runs the f32 module on widened values: gradients as
    accurate as f32's, rounded once)."""
    text = layer_mlir(d_model, num_experts, top_k, head_dim, dtype, causal,
                      gating, renormalize, cross, key_padding)
    return _compile(text, pre_pipeline="moa-generate-gradients"
                    if dtype == "f32" else None)


def _module_for(dtype, w_query, memory, key_padding_mask, top_k, causal,
                gating, renormalize):
    E, d, h = w_query.shape
    return _module(d, E, top_k, h, _DTYPES[dtype], causal, gating,
                   renormalize, memory is not None,
                   key_padding_mask is not None)


def _arguments(x, weights, memory, key_padding_mask):
    extra = [t for t in (memory, key_padding_mask) if t is not None]
    return [x, *weights, *extra]


def _forward(x, w_gate, w_query, w_key, w_value, w_out, memory,
             key_padding_mask, top_k, causal, gating, renormalize):
    module = _module_for(x.dtype, w_query, memory, key_padding_mask, top_k,
                         causal, gating, renormalize)
    weights = (w_gate, w_query, w_key, w_value, w_out)
    return module.moa_layer(*_arguments(x, weights, memory, key_padding_mask))


def _adjoints(x, w_gate, d_y, d_logits):
    """The output gradients, zeros where autograd gives none (an output that
    no loss used)."""
    if d_logits is None:
        d_logits = x.new_zeros((*x.shape[:2], w_gate.shape[1]),
                               dtype=torch.float32)
    return (torch.zeros_like(x) if d_y is None else d_y), d_logits


def _backward(x, w_gate, w_query, w_key, w_value, w_out, memory,
              key_padding_mask, d_y, d_logits, top_k, causal, gating,
              renormalize):
    """Gradients of x, the five weights and (cross-attention) memory. A bf16
    layer is differentiated in f32: its values are widened, and the
    gradients rounded back to each input's dtype."""
    module = _module_for(torch.float32, w_query, memory, key_padding_mask,
                         top_k, causal, gating, renormalize)
    d_y, d_logits = _adjoints(x, w_gate, d_y, d_logits)
    inputs = _arguments(x, (w_gate, w_query, w_key, w_value, w_out), memory,
                        None)
    widened = [t.float() for t in inputs]
    mask = [key_padding_mask] if key_padding_mask is not None else []
    grads = module.moa_layer_grad(*widened, *mask, d_y.float(), d_logits)
    return tuple(g.to(t.dtype) for g, t in zip(grads, inputs))


def _grad_outputs(saved, grads):
    """The gradients an op with inputs (x, five weights, memory, mask, four
    attributes) returns: memory's only for cross-attention."""
    memory_grad = grads[6] if saved[6] is not None else None
    return (*grads[:6], memory_grad, None, None, None, None, None)


class _Function(torch.autograd.Function):
    """The layer for PyTorch without torch.library.custom_op."""

    @staticmethod
    def forward(ctx, x, w_gate, w_query, w_key, w_value, w_out, memory,
                key_padding_mask, top_k, causal, gating, renormalize):
        ctx.config = (top_k, causal, gating, renormalize)
        ctx.save_for_backward(x, w_gate, w_query, w_key, w_value, w_out,
                              memory, key_padding_mask)
        y, logits = _forward(x, w_gate, w_query, w_key, w_value, w_out,
                             memory, key_padding_mask, *ctx.config)
        return y, logits

    @staticmethod
    def backward(ctx, d_y, d_logits):
        saved = ctx.saved_tensors
        return _grad_outputs(saved,
                             _backward(*saved, d_y, d_logits, *ctx.config))




if hasattr(torch.library, "custom_op"):  # PyTorch 2.4 and later
    @torch.library.custom_op("moa::mixture_attention", mutates_args=())
    def _op(x: Tensor, w_gate: Tensor, w_query: Tensor, w_key: Tensor,
            w_value: Tensor, w_out: Tensor, memory: Optional[Tensor],
            key_padding_mask: Optional[Tensor], top_k: int, causal: bool,
            gating: str, renormalize: bool) -> Tuple[Tensor, Tensor]:
        return _forward(x, w_gate, w_query, w_key, w_value, w_out, memory,
                        key_padding_mask, top_k, causal, gating, renormalize)

    @_op.register_fake
    def _(x, w_gate, *args):
        logits = x.new_empty((*x.shape[:2], w_gate.shape[1]),
                             dtype=torch.float32)
        return torch.empty_like(x), logits

    @torch.library.custom_op("moa::mixture_attention_backward",
                             mutates_args=())
    def _op_backward(x: Tensor, w_gate: Tensor, w_query: Tensor,
                     w_key: Tensor, w_value: Tensor, w_out: Tensor,
                     memory: Optional[Tensor],
                     key_padding_mask: Optional[Tensor], d_y: Tensor,
                     d_logits: Tensor, top_k: int, causal: bool, gating: str,
                     renormalize: bool) -> List[Tensor]:
        return list(_backward(x, w_gate, w_query, w_key, w_value, w_out,
                              memory, key_padding_mask, d_y, d_logits, top_k,
                              causal, gating, renormalize))

    @_op_backward.register_fake
    def _(x, w_gate, w_query, w_key, w_value, w_out, memory, *args):
        inputs = [x, w_gate, w_query, w_key, w_value, w_out] + \
            ([memory] if memory is not None else [])
        return [torch.empty_like(t) for t in inputs]

    def _setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:8])
        ctx.config = inputs[8:]

    def _op_grad(ctx, d_y, d_logits):
        saved = ctx.saved_tensors
        d_y, d_logits = _adjoints(saved[0], saved[1], d_y, d_logits)
        grads = torch.ops.moa.mixture_attention_backward(*saved, d_y, d_logits,
                                                         *ctx.config)
        return _grad_outputs(saved, grads)

    _op.register_autograd(_op_grad, setup_context=_setup_context)

    def mixture_attention(*args):
        return torch.ops.moa.mixture_attention(*args)
else:
    def mixture_attention(*args):
        return _Function.apply(*args)

mixture_attention.__doc__ = """mixture_attention(x, w_gate, w_query, w_key,
w_value, w_out, memory, key_padding_mask, top_k, causal, gating,
renormalize) -> (y, router_logits): the MoA sub-layer, differentiable in x,
the five weights and memory."""


class MixtureOfAttention(nn.Module):
    """The MoA sub-layer (Zhang et al., 2022) computed by moa.

    Parameters, initialised as the official code does: w_gate [d, E] zeros
    (every expert ties at first; ties go to the lower index), w_query
    [E, d, h] and w_out [E, h, d] uniform in +-1/fan_in (its ParallelExperts),
    w_key and w_value [d, h] Xavier-uniform with gain 1/sqrt(2). w_gate is
    always f32 (the router runs in f32); the others have `dtype` (float32,
    or bfloat16: a bf16 forward, and a backward in f32 on the widened values
    with gradients rounded to bf16).

    forward(x [B, T, d], key_padding_mask [B, S] bool (True: padding),
    memory [B, S, d] for cross-attention) -> y [B, T, d]; the router logits
    [B, T, E] (f32) of the call are kept in .router_logits, for the
    auxiliary losses below.
    """

    def __init__(self, d_model, num_experts, top_k, head_dim, causal=False,
                 gating="softmax_topk", renormalize=False,
                 dtype=torch.float32):
        super().__init__()
        if dtype not in _DTYPES:
            raise ValueError(f"MixtureOfAttention: dtype must be one of "
                             f"{list(_DTYPES)}, got {dtype}")
        if gating not in _GATINGS:
            raise ValueError(f"MixtureOfAttention: gating must be one of "
                             f"{_GATINGS}, got {gating!r}")
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"MixtureOfAttention: top_k must be in "
                             f"[1, {num_experts}], got {top_k}")
        d, E, h = d_model, num_experts, head_dim
        self.top_k, self.causal = top_k, causal
        self.gating, self.renormalize = gating, renormalize
        self.w_gate = nn.Parameter(torch.zeros(d, E, dtype=torch.float32))
        self.w_query = nn.Parameter(torch.empty(E, d, h, dtype=dtype))
        self.w_key = nn.Parameter(torch.empty(d, h, dtype=dtype))
        self.w_value = nn.Parameter(torch.empty(d, h, dtype=dtype))
        self.w_out = nn.Parameter(torch.empty(E, h, d, dtype=dtype))
        self.router_logits = None
        self.reset_parameters()

    def reset_parameters(self):
        with torch.no_grad():
            self.w_gate.zero_()
            for weight in (self.w_query, self.w_out):
                bound = 1.0 / weight.shape[1]
                weight.uniform_(-bound, bound)
            for weight in (self.w_key, self.w_value):
                nn.init.xavier_uniform_(weight, gain=1 / math.sqrt(2))

    def extra_repr(self):
        E, d, h = self.w_query.shape
        return (f"d_model={d}, num_experts={E}, top_k={self.top_k}, "
                f"head_dim={h}, causal={self.causal}, gating={self.gating}, "
                f"renormalize={self.renormalize}, dtype={self.w_query.dtype}")

    def forward(self, x, key_padding_mask=None, memory=None):
        for name, t in (("x", x), ("memory", memory)):
            if t is not None and t.dtype != self.w_query.dtype:
                raise TypeError(f"MixtureOfAttention: {name} is "
                                f"{t.dtype}, the layer {self.w_query.dtype}")
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.to(torch.bool)
        y, self.router_logits = mixture_attention(
            x, self.w_gate, self.w_query, self.w_key, self.w_value,
            self.w_out, memory, key_padding_mask, self.top_k, self.causal,
            self.gating, self.renormalize)
        return y

    def load_balancing_loss(self):
        """The switch-style loss of the last call's routing."""
        return load_balancing_loss(self.router_logits, self.top_k)

    def router_z_loss(self):
        return router_z_loss(self.router_logits)


def _token_rows(router_logits, query_padding_mask):
    rows = router_logits.reshape(-1, router_logits.shape[-1]).float()
    if query_padding_mask is not None:  # padded tokens are left out
        rows = rows[~query_padding_mask.reshape(-1).to(torch.bool)]
    return rows


def load_balancing_loss(router_logits, top_k, query_padding_mask=None):
    """E * sum_e (P_e / sum P) * (c_e / sum c), P_e the summed router
    probabilities of expert e and c_e its (token, slot) assignments (ties to
    the lower index), over unpadded tokens (moa-spec.md)."""
    rows = _token_rows(router_logits, query_padding_mask)
    num_experts = rows.shape[-1]
    probs = rows.softmax(-1)
    chosen = torch.sort(probs.detach(), dim=-1, descending=True,
                        stable=True).indices[:, :top_k]
    counts = torch.bincount(chosen.reshape(-1), minlength=num_experts)
    P = probs.sum(0)
    return num_experts * (P / P.sum() * (counts / counts.sum())).sum()


def router_z_loss(router_logits, query_padding_mask=None):
    """mean over unpadded tokens of logsumexp(logits)^2."""
    rows = _token_rows(router_logits, query_padding_mask)
    return rows.logsumexp(-1).square().mean()
