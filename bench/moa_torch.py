"""The MoA layer in PyTorch eager, as the official code computes it.

yikangshen/MoA (moa_layer/moa_attention.py, parallel_linear/moe.py): softmax
over E, top-k, sort the (token, slot) pairs by expert, one matmul per expert
over its gathered rows (q projection), shared K and V, attention of the k
query heads, then per-expert output matmuls whose gate-weighted rows are
index_add-ed back to their tokens. The expert sizes go to the host
(`tolist()`), as in the official code.
"""
import torch


def moa_attention(x, w_gate, w_query, w_out, k, key, value, masked=None):
    """The official algorithm for query rows x [B, T, d] over the shared
    key and value [B, S, h]; `masked` [T, S] (True: hidden), if given, is
    applied to every sequence's scores."""
    B, T, d = x.shape
    E, _, h = w_query.shape
    rows = x.reshape(B * T, d)
    # The router in the router weight's precision (f32, as moa does), under
    # autocast too.
    with torch.autocast(device_type=x.device.type, enabled=False):
        probs = torch.softmax(rows.to(w_gate.dtype) @ w_gate, dim=-1)
    gates, index = probs.topk(k, dim=-1)
    flat = index.reshape(-1)
    _, order = flat.sort(stable=True)
    token_of = order.div(k, rounding_mode="floor")
    expert_size = torch.bincount(flat, minlength=E).tolist()

    # map: per-expert query projection over gathered rows, scattered per slot.
    q_sorted = torch.cat([chunk @ w_query[e] for e, chunk in
                          enumerate(rows[token_of].split(expert_size))])
    q = torch.empty(B * T * k, h, dtype=q_sorted.dtype, device=x.device)
    q[order] = q_sorted
    q = q.view(B, T, k, h)

    scores = torch.einsum("btkh,bsh->bkts", q, key) * h ** -0.5
    if masked is not None:
        scores = scores.masked_fill(masked, float("-inf"))
    attention = torch.einsum("bkts,bsh->btkh", scores.softmax(-1), value)

    # reduce: per-expert output projection, gate-weighted, summed per token.
    a_sorted = attention.reshape(B * T * k, h)[order]
    y_sorted = torch.cat([chunk @ w_out[e] for e, chunk in
                          enumerate(a_sorted.split(expert_size))])
    y_sorted = (y_sorted * gates.reshape(-1)[order, None]).to(x.dtype)
    y = torch.zeros(B * T, d, dtype=x.dtype,
                    device=x.device).index_add_(0, token_of, y_sorted)
    return y.view(B, T, d)


def moa_layer(x, w_gate, w_query, w_key, w_value, w_out, k):
    return moa_attention(x, w_gate, w_query, w_out, k, x @ w_key,
                         x @ w_value)


def peers(compiled=True):
    """What a PyTorch user would run instead of moa: the layer in eager mode
    and, where this PyTorch has it (2.0 and later) and `compiled`, under
    torch.compile with static shapes (each benchmark shape compiled once,
    warm-up outside the timer). The expert sizes' `tolist()` breaks the
    graph there, as it would for the official code."""
    found = {"eager": moa_layer}
    if compiled and hasattr(torch, "compile"):
        from torch import _dynamo
        # One compiled graph per benchmark shape and dtype.
        _dynamo.config.cache_size_limit = 64
        found["compiled"] = torch.compile(moa_layer, dynamic=False)
    return found
