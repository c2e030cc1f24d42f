#!/usr/bin/env python3
"""Decoding speed: moa's prefill + decode entries (moa-generate-decode, run by
moa-generate) against PyTorch eager decoding the same model with a KV cache,
the official algorithm's way (fairseq's incremental state: the cache grows
by torch.cat every step) and with a preallocated cache written in place.

The model: token and position embeddings, L pre-LN blocks of causal MoA
self-attention (d, E experts, top-k, head size h) and a ReLU FFN, a final
layer norm and the output projection (decode_model_text). Both sides decode
batch 1 and 16 with 1k and 4k tokens already cached, 2 threads each
(OMP_WAIT_POLICY=PASSIVE), and report decode tokens/s (the first step, a
warm-up, not timed) and their ratio. moa prefills real prompts; PyTorch's
caches are filled with random keys and values of the same shape (the
arithmetic and memory traffic of a step do not depend on the values, and a
4k-token prefill in eager PyTorch would need 2 GB of attention scores).

Agreement is checked before timing, on a short batch of prompts of
different lengths: moa's prefill logits and the logits of a decode step
(moa-run on the entries, caches passed between them) against the PyTorch
model's, and the greedy continuations of moa-generate against PyTorch's.
Also printed: cache bytes per token, MoA against multi-head attention of the
same width d.

  bench/bench_decode_cpu.py --bin BUILD/bin [--quick]
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

# Before torch loads its OpenMP runtime, which reads it once; the moa
# processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moa_torch import moa_attention  # noqa: E402

D, E, K, H, FFN, VOCAB, LAYERS = 512, 8, 2, 64, 1024, 512, 2
POSITIONS = 4160  # position table rows: the 4k prompts and what follows
NEW_TOKENS = 33   # per sequence: the first from prefill, 32 decode steps


def decode_model_text(layers, d, e, k, h, ffn, vocab, positions):
    """A decoder-only MoA language model as its loss function's forward:
    the result named logits is all moa-generate-decode needs."""
    t = lambda *dims: "tensor<" + "x".join(map(str, dims)) + "xf32>"
    act = "tensor<?x?x%dxf32>" % d
    params = [("tok_emb", t(vocab, d)), ("pos_emb", t(positions, d))]
    for i in range(layers):
        params += [(f"l{i}_ln1_g", t(d)), (f"l{i}_ln1_b", t(d)),
                   (f"l{i}_w_gate", t(d, e)), (f"l{i}_w_query", t(e, d, h)),
                   (f"l{i}_w_key", t(d, h)), (f"l{i}_w_value", t(d, h)),
                   (f"l{i}_w_out", t(e, h, d)), (f"l{i}_ln2_g", t(d)),
                   (f"l{i}_ln2_b", t(d)), (f"l{i}_w_ff1", t(d, ffn)),
                   (f"l{i}_w_ff2", t(ffn, d))]
    params += [("lnf_g", t(d)), ("lnf_b", t(d)), ("w_vocab", t(d, vocab))]
    args = ",\n    ".join(f'%{n}: {ty} {{moa.param = "{n}"}}'
                            for n, ty in params)
    contract = ("linalg.contract indexing_maps = [#row_in, #row_w, #row_out]"
                " ins(%{x}, %{w} : {xt}, {wt}) outs(%{o} : {ot}) -> {ot}")
    lines = [
        "#row_in = affine_map<(b, t, n, c) -> (b, t, c)>",
        "#row_w = affine_map<(b, t, n, c) -> (c, n)>",
        "#row_out = affine_map<(b, t, n, c) -> (b, t, n)>",
        f"func.func @loss({args},",
        '    %tokens: tensor<?x?xi32> {moa.name = "tokens"},',
        '    %positions: tensor<?x?xi32> {moa.name = "positions"})',
        f'    -> (tensor<?x?x{vocab}xf32> {{moa.name = "logits"}}) {{',
        "  %c0 = arith.constant 0 : index", "  %c1 = arith.constant 1 : index",
        "  %zero = arith.constant 0.0 : f32",
        "  %b = tensor.dim %tokens, %c0 : tensor<?x?xi32>",
        "  %t = tensor.dim %tokens, %c1 : tensor<?x?xi32>",
        f"  %tok = moa.embedding %tokens, %tok_emb : tensor<?x?xi32>, "
        f"{t(vocab, d)} -> {act}",
        f"  %pos = moa.embedding %positions, %pos_emb : tensor<?x?xi32>, "
        f"{t(positions, d)} -> {act}",
        f"  %ed = tensor.empty(%b, %t) : {act}",
        f"  %x0 = linalg.add ins(%tok, %pos : {act}, {act}) outs(%ed : {act})"
        f" -> {act}",
        f"  %ef = tensor.empty(%b, %t) : tensor<?x?x{ffn}xf32>",
        f"  %zf = linalg.fill ins(%zero : f32) outs(%ef : tensor<?x?x{ffn}xf32>)"
        f" -> tensor<?x?x{ffn}xf32>",
        f"  %zd = linalg.fill ins(%zero : f32) outs(%ed : {act}) -> {act}",
    ]
    x = "x0"
    for i in range(layers):
        p = f"l{i}_"
        lines += [
            f"  %{p}h1 = moa.layer_norm %{x}, %{p}ln1_g, %{p}ln1_b : {act}, {t(d)}",
            f"  %{p}a, %{p}r = moa.mixture_attention %{p}h1, %{p}w_gate, "
            f"%{p}w_query, %{p}w_key, %{p}w_value, %{p}w_out k({k}) {{causal}}"
            f" : {act}, {t(d, e)}, {t(e, d, h)}, {t(d, h)}, {t(d, h)}, "
            f"{t(e, h, d)}",
            f"  %{p}x1 = linalg.add ins(%{x}, %{p}a : {act}, {act}) "
            f"outs(%ed : {act}) -> {act}",
            f"  %{p}h2 = moa.layer_norm %{p}x1, %{p}ln2_g, %{p}ln2_b : {act}, "
            f"{t(d)}",
            "  %" + p + "u = " + contract.format(
                x=p + "h2", w=p + "w_ff1", xt=act, wt=t(d, ffn), o="zf",
                ot=f"tensor<?x?x{ffn}xf32>"),
            f"  %{p}r1 = linalg.max ins(%{p}u, %zf : tensor<?x?x{ffn}xf32>, "
            f"tensor<?x?x{ffn}xf32>) outs(%ef : tensor<?x?x{ffn}xf32>) -> "
            f"tensor<?x?x{ffn}xf32>",
            "  %" + p + "f = " + contract.format(
                x=p + "r1", w=p + "w_ff2", xt=f"tensor<?x?x{ffn}xf32>",
                wt=t(ffn, d), o="zd", ot=act),
            f"  %{p}x2 = linalg.add ins(%{p}x1, %{p}f : {act}, {act}) "
            f"outs(%ed : {act}) -> {act}",
        ]
        x = p + "x2"
    lines += [
        f"  %hf = moa.layer_norm %{x}, %lnf_g, %lnf_b : {act}, {t(d)}",
        f"  %ev = tensor.empty(%b, %t) : tensor<?x?x{vocab}xf32>",
        f"  %zv = linalg.fill ins(%zero : f32) outs(%ev : "
        f"tensor<?x?x{vocab}xf32>) -> tensor<?x?x{vocab}xf32>",
        "  %logits = " + contract.format(
            x="hf", w="w_vocab", xt=act, wt=t(d, vocab), o="zv",
            ot=f"tensor<?x?x{vocab}xf32>"),
        f"  return %logits : tensor<?x?x{vocab}xf32>",
        "}",
    ]
    return "\n".join(lines) + "\n", params


def random_params(params, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, ty in params:
        shape = tuple(int(s) for s in ty[len("tensor<"):-len("xf32>")].split("x"))
        if name.endswith("_g"):
            out[name] = (1 + rng.uniform(-0.2, 0.2, shape)).astype(np.float32)
        elif name.endswith("_b"):
            out[name] = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
        else:
            fan_in = shape[-2] if len(shape) >= 2 else shape[-1]
            bound = 1.0 if "emb" in name else fan_in ** -0.5
            out[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return out


def write_checkpoint(path, params):
    """A safetensors file as moa-train writes it (tensors named p.<name>)."""
    header, blobs, offset = {}, [], 0
    for name, array in params.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header["p." + name] = {"dtype": "F32", "shape": list(array.shape),
                               "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# --- The same model in PyTorch -------------------------------------------

class TorchModel:
    def __init__(self, params):
        self.p = {n: torch.from_numpy(a) for n, a in params.items()}

    def ln(self, x, g, b):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), g, b, 1e-5)

    def attention(self, i, x, keys, values, causal_offset):
        """The official algorithm (bench/moa_torch.py) for the query rows x
        [B, T, d] over keys and values [B, S, h]; query t sits at position
        causal_offset + t."""
        p = self.p
        T, S = x.shape[1], keys.shape[1]
        masked = None
        if T > 1 or causal_offset + T < S:
            t_pos = torch.arange(T)[:, None] + causal_offset
            masked = torch.arange(S)[None, :] > t_pos
        return moa_attention(x, p[f"l{i}_w_gate"], p[f"l{i}_w_query"],
                             p[f"l{i}_w_out"], K, keys, values, masked)

    def step(self, tokens, positions, cache, length, mode):
        """Logits [B, V] of tokens [B, T] at positions; cache[i] holds layer
        i's (keys, values); length: tokens already cached. mode "cat" grows
        the cache by torch.cat (fairseq's incremental state), "prealloc"
        writes into preallocated buffers."""
        p = self.p
        x = p["tok_emb"][tokens] + p["pos_emb"][positions]
        T = tokens.shape[1]
        for i in range(LAYERS):
            h1 = self.ln(x, p[f"l{i}_ln1_g"], p[f"l{i}_ln1_b"])
            k_new, v_new = h1 @ p[f"l{i}_w_key"], h1 @ p[f"l{i}_w_value"]
            keys, values = cache[i]
            if mode == "cat":
                keys = torch.cat([keys, k_new], dim=1)
                values = torch.cat([values, v_new], dim=1)
                cache[i] = (keys, values)
            else:
                keys[:, length:length + T] = k_new
                values[:, length:length + T] = v_new
                keys, values = keys[:, :length + T], values[:, :length + T]
            x = x + self.attention(i, h1, keys, values, length)
            h2 = self.ln(x, p[f"l{i}_ln2_g"], p[f"l{i}_ln2_b"])
            x = x + torch.relu(h2 @ p[f"l{i}_w_ff1"]) @ p[f"l{i}_w_ff2"]
        return self.ln(x, p["lnf_g"], p["lnf_b"])[:, -1] @ p["w_vocab"]


def torch_decode_rate(model, batch, cached, mode, steps):
    """Decode tokens/s of `steps` timed steps after one warm-up step, with
    `cached` random keys and values in every layer's cache."""
    g = torch.Generator().manual_seed(3)
    def fill():
        return torch.randn(batch, cached, H, generator=g) * 0.5
    if mode == "cat":
        cache = [(fill(), fill()) for _ in range(LAYERS)]
    else:
        cache = []
        for _ in range(LAYERS):
            keys = torch.empty(batch, cached + steps + 1, H)
            values = torch.empty_like(keys)
            keys[:, :cached], values[:, :cached] = fill(), fill()
            cache.append((keys, values))
    token = torch.randint(0, VOCAB, (batch, 1), generator=g)
    with torch.no_grad():
        for s in range(steps + 1):
            if s == 1:
                start = time.perf_counter()
            pos = torch.full((batch, 1), cached + s, dtype=torch.long)
            logits = model.step(token, pos, cache, cached + s, mode)
            token = logits.argmax(-1, keepdim=True)
    return batch * steps / (time.perf_counter() - start)


# --- moa -------------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def moa_decode(build, module, ckpt, prompts, tmp):
    path = os.path.join(tmp, "prompts.txt")
    with open(path, "w") as f:
        for p in prompts:
            f.write(",".join(map(str, p)) + "\n")
    out = run([os.path.join(build, "bin", "moa-generate"), module,
               "--checkpoint", ckpt, "--prompts", path,
               "--max-new-tokens", str(NEW_TOKENS)]).stdout
    ids = [[int(v) for v in line.split(":")[1].split(",")]
           for line in out.splitlines() if line.startswith("generated ids:")]
    rate = float(out.split("decode:")[1].split("(")[1].split(" tokens/s")[0])
    per_token = int(out.split("cache:")[1].split(" bytes (")[1].split(" per")[0])
    return ids, rate, per_token


def save_npy(path, array):
    np.save(path, array)
    return path


def check_agreement(build, module, params, model, tmp):
    """moa's prefill and one decode step (moa-run) and its greedy
    continuation (moa-generate) against the PyTorch model."""
    rng = np.random.default_rng(5)
    lengths = [7, 3, 12]
    T = max(lengths)
    tokens = rng.integers(0, VOCAB, (3, T)).astype(np.int32)
    positions = np.tile(np.arange(T, dtype=np.int32), (3, 1))
    args = [save_npy(os.path.join(tmp, f"p{i}.npy"), a)
            for i, a in enumerate(params.values())]
    data = [save_npy(os.path.join(tmp, n + ".npy"), a) for n, a in
            [("tokens", tokens), ("positions", positions),
             ("lengths", np.array(lengths, np.int32))]]
    moa_run = os.path.join(build, "bin", "moa-run")
    for out in ("prefill", "decode"):
        os.makedirs(os.path.join(tmp, out), exist_ok=True)
    run([moa_run, module, "loss_prefill", *args, *data, "-o",
         os.path.join(tmp, "prefill")])
    moa_logits = np.load(os.path.join(tmp, "prefill", "out0.npy"))
    caches = [os.path.join(tmp, "prefill", f"out{i}.npy")
              for i in range(1, 1 + 2 * LAYERS)]
    nxt = moa_logits.argmax(-1).astype(np.int32)[:, None]
    step = [save_npy(os.path.join(tmp, n + ".npy"), a) for n, a in
            [("step_tokens", nxt),
             ("step_positions", np.array(lengths, np.int32)[:, None])]]
    run([moa_run, module, "loss_decode", *args, *step, *caches,
         data[2], "-o", os.path.join(tmp, "decode")])
    moa_step = np.load(os.path.join(tmp, "decode", "out0.npy"))
    worst = 0.0
    with torch.no_grad():
        for b, n in enumerate(lengths):
            seq = torch.from_numpy(tokens[b:b + 1, :n]).long()
            full = torch.cat([seq, torch.from_numpy(nxt[b:b + 1]).long()], 1)
            for upto, got in [(n, moa_logits[b]), (n + 1, moa_step[b])]:
                cache = [(torch.zeros(1, 0, H), torch.zeros(1, 0, H))
                         for _ in range(LAYERS)]
                want = model.step(full[:, :upto], torch.arange(upto)[None],
                                  cache, 0, "cat")[0].numpy()
                worst = max(worst, float(np.abs(got - want).max() /
                                         np.abs(want).max()))
    prompts = [list(tokens[b, :n]) for b, n in enumerate(lengths)]
    ids, _, _ = moa_decode(build, module, os.path.join(tmp, "ck.safetensors"),
                           prompts, tmp)
    same = 0
    with torch.no_grad():
        for b, prompt in enumerate(prompts):
            seq = torch.tensor([prompt])
            cache = [(torch.zeros(1, 0, H), torch.zeros(1, 0, H))
                     for _ in range(LAYERS)]
            logits = model.step(seq, torch.arange(len(prompt))[None], cache,
                                0, "cat")
            want = []
            for s in range(NEW_TOKENS):
                token = int(logits.argmax(-1))
                want.append(token)
                if s + 1 < NEW_TOKENS:
                    logits = model.step(torch.tensor([[token]]),
                                        torch.tensor([[len(prompt) + s]]),
                                        cache, len(prompt) + s, "cat")
            same += ids[b] == want
    return worst, same, len(prompts)


def main():
    args = sys.argv[1:]
    bindir = args[args.index("--bin") + 1] if "--bin" in args else "build/bin"
    build = os.path.dirname(os.path.abspath(bindir))
    quick = "--quick" in args
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    tmp = tempfile.mkdtemp(prefix="moa-decode-")
    text, specs = decode_model_text(LAYERS, D, E, K, H, FFN, VOCAB, POSITIONS)
    with open(os.path.join(tmp, "model.mlir"), "w") as f:
        f.write(text)
    module = os.path.join(tmp, "model.so")
    run([os.path.join(build, "bin", "moa-compile"),
         os.path.join(tmp, "model.mlir"), "-o", module,
         f"--pre-pipeline=moa-generate-decode{{max-length={POSITIONS}}}"])
    params = random_params(specs, 1)
    write_checkpoint(os.path.join(tmp, "ck.safetensors"), params)
    model = TorchModel(params)

    worst, same, total = check_agreement(build, module, params, model, tmp)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"model: {LAYERS} layers, d={D}, E={E}, k={K}, h={H}, ffn={FFN}, "
          f"vocab={VOCAB}")
    print(f"agreement: prefill and decode-step logits within {worst:.1e} "
          f"(relative to the largest); greedy continuations identical for "
          f"{same}/{total} prompts")
    if worst > 1e-4:
        sys.exit("moa and PyTorch disagree")

    shapes = [(1, 1024), (16, 1024)] if quick else \
        [(1, 1024), (16, 1024), (1, 4096), (16, 4096)]
    rng = np.random.default_rng(9)
    print(f"{'batch':>5} {'cached':>6} {'moa tok/s':>10} {'torch cat':>10} "
          f"{'torch prealloc':>14} {'vs cat':>7} {'vs prealloc':>11}")
    for batch, cached in shapes:
        prompts = [list(rng.integers(0, VOCAB, cached)) for _ in range(batch)]
        _, moa_rate, per_token = moa_decode(
            build, module, os.path.join(tmp, "ck.safetensors"), prompts, tmp)
        cat = torch_decode_rate(model, batch, cached, "cat", NEW_TOKENS - 1)
        pre = torch_decode_rate(model, batch, cached, "prealloc",
                                NEW_TOKENS - 1)
        print(f"{batch:>5} {cached:>6} {moa_rate:>10.0f} {cat:>10.0f} "
              f"{pre:>14.0f} {moa_rate / cat:>6.2f}x {moa_rate / pre:>10.2f}x")
    mha = 2 * D * 4 * LAYERS
    print(f"cache per token: moa {per_token} bytes (2 x h x 4 B x {LAYERS} "
          f"layers), multi-head attention of d={D}: {mha} bytes "
          f"({mha / per_token:.0f}x more)")


if __name__ == "__main__":
    main()
