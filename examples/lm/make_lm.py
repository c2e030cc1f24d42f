#!/usr/bin/env python3
"""Writes a decoder-only character language model as its moa training loss
(the form examples/tiny_lm.mlir has, for moa-train): token and position
embeddings, `--layers` pre-LN blocks of causal self-attention and a ReLU FFN,
a final layer norm, the output projection, and the cross-entropy (plus, for
MoA, the official auxiliary losses 0.01 * load balancing + 0.001 * router
z-loss, summed over the layers).

The attention is dense multi-head attention (`--attention mha`: `--heads` H
of width `--head-dim` h, moa.multi_head_attention) or MoA (`--attention moa`:
`--experts` E, `--top-k` k, `--head-dim` h, moa.mixture_attention). The
fidelity benchmark (bench/fidelity) builds its model family with this.

    make_lm.py --attention moa --experts 8 --top-k 2 --head-dim 76 > lm.mlir
"""
import argparse

ROW_MAPS = """#row_in = affine_map<(b, t, n, c) -> (b, t, c)>
#row_w = affine_map<(b, t, n, c) -> (c, n)>
#row_out = affine_map<(b, t, n, c) -> (b, t, n)>
"""


# The batch and sequence sizes: dynamic, or static for moa-cost
# (--cost-shape).
BT = "?x?"


def act(n):
    return f"tensor<{BT}x{n}xf32>"


class Writer:
    def __init__(self, args):
        self.a = args
        self.params, self.body, self.aux = [], [], []

    def param(self, name, shape, init):
        self.params.append(
            f"%{name}: tensor<{'x'.join(map(str, shape))}xf32> "
            f"{{moa.param = \"{name}\", moa.init = \"{init}\"}}")
        return f"%{name}"

    def emit(self, line):
        self.body.append("  " + line)

    def project(self, out, x, w, n_in, n_out):
        self.emit(f"{out} = linalg.contract indexing_maps = [#row_in, #row_w, "
                  f"#row_out] ins({x}, {w} : {act(n_in)}, "
                  f"tensor<{n_in}x{n_out}xf32>) outs(%zero{n_out} : "
                  f"{act(n_out)}) -> {act(n_out)}")

    def add(self, out, x, y, n):
        self.emit(f"{out} = linalg.add ins({x}, {y} : {act(n)}, {act(n)}) "
                  f"outs(%empty{n} : {act(n)}) -> {act(n)}")

    def layer_norm(self, out, x, name):
        d = self.a.d
        g = self.param(f"{name}_g", [d], "ones")
        b = self.param(f"{name}_b", [d], "zeros")
        self.emit(f"{out} = moa.layer_norm {x}, {g}, {b} : {act(d)}, "
                  f"tensor<{d}xf32>")

    def attention(self, out, x, i):
        a, d = self.a, self.a.d
        if a.attention == "mha":
            H, h = a.heads, a.head_dim
            # The fan-in of [d, H, h] is d and of [H, h, d] H*h, which
            # moa-train's plain fan_in (the next-to-last size) would miss.
            w = [self.param(f"l{i}_w_{n}", [d, H, h], f"fan_in:{d}")
                 for n in ("query", "key", "value")]
            wo = self.param(f"l{i}_w_out", [H, h, d], f"fan_in:{H * h}")
            self.emit(f"{out} = moa.multi_head_attention {x}, {w[0]}, {w[1]}, "
                      f"{w[2]}, {wo} {{causal}} : {act(d)}, "
                      f"tensor<{d}x{H}x{h}xf32>, tensor<{d}x{H}x{h}xf32>, "
                      f"tensor<{d}x{H}x{h}xf32>, tensor<{H}x{h}x{d}xf32>")
            return
        E, k, h = a.experts, a.top_k, a.head_dim
        wg = self.param(f"l{i}_w_gate", [d, E], "normal:0.1")
        wq = self.param(f"l{i}_w_query", [E, d, h], "fan_in")
        wk = self.param(f"l{i}_w_key", [d, h], "fan_in")
        wv = self.param(f"l{i}_w_value", [d, h], "fan_in")
        wo = self.param(f"l{i}_w_out", [E, h, d], "fan_in")
        self.emit(f"{out}, %logits{i} = moa.mixture_attention {x}, {wg}, {wq}, "
                  f"{wk}, {wv}, {wo} k({k}) {{causal}} : {act(d)}, "
                  f"tensor<{d}x{E}xf32>, tensor<{E}x{d}x{h}xf32>, "
                  f"tensor<{d}x{h}xf32>, tensor<{d}x{h}xf32>, "
                  f"tensor<{E}x{h}x{d}xf32>")
        self.emit(f"%idx{i}, %gates{i} = moa.route %logits{i} k({k}) : "
                  f"{act(E)}")
        self.emit(f"%lb{i} = moa.load_balancing_loss %logits{i}, %idx{i} : "
                  f"{act(E)}, tensor<{BT}x{k}xi32>")
        self.emit(f"%z{i} = moa.router_z_loss %logits{i} : {act(E)}")
        self.aux.append(i)

    def block(self, x, i):
        a, d = self.a, self.a.d
        self.layer_norm(f"%n{i}a", x, f"l{i}_ln1")
        self.attention(f"%att{i}", f"%n{i}a", i)
        self.add(f"%r{i}a", x, f"%att{i}", d)
        self.layer_norm(f"%n{i}b", f"%r{i}a", f"l{i}_ln2")
        w1 = self.param(f"l{i}_w_ff1", [d, a.ffn], "fan_in")
        w2 = self.param(f"l{i}_w_ff2", [a.ffn, d], "fan_in")
        self.project(f"%u{i}", f"%n{i}b", w1, d, a.ffn)
        self.emit(f"%relu{i} = linalg.max ins(%u{i}, %zero{a.ffn} : "
                  f"{act(a.ffn)}, {act(a.ffn)}) outs(%empty{a.ffn} : "
                  f"{act(a.ffn)}) -> {act(a.ffn)}")
        self.project(f"%f{i}", f"%relu{i}", w2, a.ffn, d)
        self.add(f"%x{i + 1}", f"%r{i}a", f"%f{i}", d)
        return f"%x{i + 1}"

    def sum_scalars(self, names, out):
        """out = names[0] + names[1] + ... (0-d f32 tensors)."""
        total = names[0]
        for j, name in enumerate(names[1:]):
            self.emit(f"{out}_sum{j} = arith.addf {total}, {name} : "
                      "tensor<f32>")
            total = f"{out}_sum{j}"
        return total

    def write(self):
        a, d, V = self.a, self.a.d, self.a.vocab
        tok = self.param("tok_emb", [V, d], "normal:0.1")
        pos = self.param("pos_emb", [a.context, d], "normal:0.1")
        self.emit("%c0 = arith.constant 0 : index")
        self.emit("%c1 = arith.constant 1 : index")
        self.emit("%zerof = arith.constant 0.0 : f32")
        self.emit(f"%b = tensor.dim %tokens, %c0 : tensor<{BT}xi32>")
        self.emit(f"%t = tensor.dim %tokens, %c1 : tensor<{BT}xi32>")
        for n in sorted({d, a.ffn, V}):
            dynamic = "%b, %t" if BT == "?x?" else ""
            self.emit(f"%empty{n} = tensor.empty({dynamic}) : {act(n)}")
            self.emit(f"%zero{n} = linalg.fill ins(%zerof : f32) outs("
                      f"%empty{n} : {act(n)}) -> {act(n)}")
        self.emit(f"%tok = moa.embedding %tokens, {tok} : tensor<{BT}xi32>, "
                  f"tensor<{V}x{d}xf32> -> {act(d)}")
        self.emit(f"%pos = moa.embedding %positions, {pos} : tensor<{BT}xi32>, "
                  f"tensor<{a.context}x{d}xf32> -> {act(d)}")
        self.add("%x0", "%tok", "%pos", d)
        x = "%x0"
        for i in range(a.layers):
            x = self.block(x, i)
        self.layer_norm("%hf", x, "lnf")
        w = self.param("w_vocab", [d, V], "fan_in")
        self.project("%logits", "%hf", w, d, V)
        self.emit(f"%ce = moa.cross_entropy %logits, %targets : {act(V)}, "
                  f"tensor<{BT}xi32>")
        results = ["%loss", "%ce"]
        if self.aux:
            lb = self.sum_scalars([f"%lb{i}" for i in self.aux], "%lb")
            z = self.sum_scalars([f"%z{i}" for i in self.aux], "%z")
            self.emit("%c_lb = arith.constant dense<0.01> : tensor<f32>")
            self.emit("%c_z = arith.constant dense<0.001> : tensor<f32>")
            self.emit(f"%lb_w = arith.mulf %c_lb, {lb} : tensor<f32>")
            self.emit(f"%z_w = arith.mulf %c_z, {z} : tensor<f32>")
            self.emit("%aux = arith.addf %lb_w, %z_w : tensor<f32>")
            self.emit("%loss = arith.addf %ce, %aux : tensor<f32>")
            results += [lb, z]
            names = ["loss", "ce", "lb", "z"]
        else:
            self.emit("%ce_zero = arith.constant dense<0.0> : tensor<f32>")
            self.emit("%loss = arith.addf %ce, %ce_zero : tensor<f32>")
            names = ["loss", "ce"]
        signature = ", ".join(f"tensor<f32> {{moa.name = \"{n}\"}}"
                              for n in names)
        signature += f", {act(V)} {{moa.name = \"logits\"}}"
        data = [f'%{n}: tensor<{BT}xi32> {{moa.name = "{n}"}}'
                for n in ("tokens", "positions", "targets")]
        types = ", ".join(["tensor<f32>"] * len(names) + [act(V)])
        return (f"// {describe(a)}\n" + ROW_MAPS + "\nfunc.func @loss(\n    " +
                ",\n    ".join(self.params + data) + f")\n    -> ({signature})"
                " {\n" + "\n".join(self.body) +
                f"\n  return {', '.join(results)}, %logits : {types}\n}}\n")


def describe(a):
    attention = (f"MHA H={a.heads} h={a.head_dim}" if a.attention == "mha"
                 else f"MoA E={a.experts} k={a.top_k} h={a.head_dim}")
    return (f"{a.layers} layers, d={a.d}, FFN {a.ffn}, vocabulary {a.vocab}, "
            f"context {a.context}, {attention}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attention", choices=["mha", "moa"], required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--ffn", type=int, default=512)
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--cost-shape", metavar="B,T",
                   help="static batch and sequence sizes (for moa-cost)")
    args = p.parse_args()
    if args.cost_shape:
        global BT
        BT = "x".join(args.cost_shape.split(","))
    print(Writer(args).write(), end="")


if __name__ == "__main__":
    main()
