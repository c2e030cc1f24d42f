"""The MoA layer as moa-spec.md states it, in float64 PyTorch, written apart
from moa's lowering: dense per-expert query projections gathered per slot,
masks as -inf scores, fully masked rows defined as zeros. Differentiable by
autograd (no gradient through the top-k indices)."""
import torch


def hidden_keys(B, T, S, causal, key_padding_mask):
    """[B, T, S]: True where query t may not see key s."""
    hidden = torch.zeros(B, T, S, dtype=torch.bool)
    if causal:
        hidden |= torch.ones(T, S, dtype=torch.bool).triu(1)
    if key_padding_mask is not None:
        hidden |= key_padding_mask[:, None, :]
    return hidden


def route(logits, k, gating, renormalize):
    """Top-k indices (ties to the lower expert) and gates."""
    if gating == "softmax_topk":
        probs = logits.softmax(-1)
        index = torch.sort(probs.detach(), dim=-1, descending=True,
                           stable=True).indices[..., :k]
        gates = probs.gather(-1, index)
        if renormalize:
            gates = gates / gates.sum(-1, keepdim=True)
        return index, gates
    index = torch.sort(logits.detach(), dim=-1, descending=True,
                       stable=True).indices[..., :k]
    return index, logits.gather(-1, index).softmax(-1)


def moa_layer(x, w_gate, w_query, w_key, w_value, w_out, k, memory=None,
              key_padding_mask=None, causal=False, gating="softmax_topk",
              renormalize=False):
    """(y, router_logits) in float64 for float64 inputs."""
    B, T, _ = x.shape
    h = w_query.shape[2]
    source = x if memory is None else memory
    S = source.shape[1]
    logits = x @ w_gate
    index, gates = route(logits, k, gating, renormalize)
    keys, values = source @ w_key, source @ w_value
    queries = torch.einsum("btd,edh->bteh", x, w_query) * h ** -0.5
    q = queries.gather(2, index[..., None].expand(B, T, k, h))
    scores = torch.einsum("btjh,bsh->btjs", q, keys)
    hidden = hidden_keys(B, T, S, causal, key_padding_mask)
    empty = hidden.all(-1)  # rows with no key: defined as zeros
    scores = scores.masked_fill(hidden[:, :, None, :], float("-inf"))
    scores = scores.masked_fill(empty[:, :, None, None], 0.0)
    weights = scores.softmax(-1) * (~empty)[:, :, None, None]
    heads = torch.einsum("btjs,bsh->btjh", weights, values)
    outputs = torch.einsum("btjh,btjhd->btjd", heads, w_out[index])
    return (gates[..., None] * outputs).sum(2), logits


def multi_head_attention(x, w_query, w_key, w_value, w_out, memory=None,
                         key_padding_mask=None, causal=False):
    """Dense multi-head attention: w_query, w_key, w_value [d, H, h],
    w_out [H, h, d]; rows with no key are zeros."""
    B, T, _ = x.shape
    h = w_query.shape[2]
    source = x if memory is None else memory
    S = source.shape[1]
    q = torch.einsum("btd,dnh->bnth", x, w_query) * h ** -0.5
    k = torch.einsum("bsd,dnh->bnsh", source, w_key)
    v = torch.einsum("bsd,dnh->bnsh", source, w_value)
    hidden = hidden_keys(B, T, S, causal, key_padding_mask)
    empty = hidden.all(-1)[:, None, :, None]
    scores = torch.einsum("bnth,bnsh->bnts", q, k)
    scores = scores.masked_fill(hidden[:, None], float("-inf"))
    weights = scores.masked_fill(empty, 0.0).softmax(-1) * ~empty
    heads = torch.einsum("bnts,bnsh->bnth", weights, v)
    return torch.einsum("bnth,nhd->btd", heads, w_out)
