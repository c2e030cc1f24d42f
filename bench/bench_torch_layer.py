#!/usr/bin/python3
"""CPU benchmark of python/moa's PyTorch layer: one training step (forward,
backward, AdamW) of a PyTorch model whose attention is
moa.torch.MixtureOfAttention, against the same model with the layer in
PyTorch (bench/moa_torch.py, the official algorithm) eager and under
torch.compile, on the same inputs and initial weights, in the same run.

The model is a pre-LN residual block, y = x + MoA(LayerNorm(x)), with an MSE
loss against a random target; the optimizer is torch.optim.AdamW over all of
its parameters. Each variant runs two untimed warm-up steps (torch.compile
compiles there, moa compiles or loads its module), then `--repeat` timed
steps per round, in interleaved rounds; the table shows the median over
rounds of each variant's median step and the ratios to moa's. The first
step's gradients of every variant are checked against the eager peer's
(max |a - b| / max |b| <= 1e-3). Where this PyTorch has torch.library's
custom ops, a fourth variant is the moa model under torch.compile. Run
through bench/run_cpu.sh (both sides with OMP_WAIT_POLICY=PASSIVE and two
threads).
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads
import argparse  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
from moa_torch import moa_layer  # noqa: E402


CONFIGS = [
    # name, B, T, d, E, k, h (f32): bench_cpu.py's two configurations
    ("B4-T256-d512-E8-k2-h64", 4, 256, 512, 8, 2, 64),
    ("B2-T1024-d1024-E32-k4-h128", 2, 1024, 1024, 32, 4, 128),
]
TOLERANCE = 1e-3


class TorchMoA(nn.Module):
    """The peer: the same parameters, the official algorithm in PyTorch."""

    def __init__(self, layer):
        super().__init__()
        for name in ("w_gate", "w_query", "w_key", "w_value", "w_out"):
            setattr(self, name, nn.Parameter(getattr(layer, name).detach()
                                             .clone()))
        self.top_k = layer.top_k

    def forward(self, x):
        return moa_layer(x, self.w_gate, self.w_query, self.w_key,
                         self.w_value, self.w_out, self.top_k)


class Block(nn.Module):
    def __init__(self, attention, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attention = attention

    def forward(self, x):
        return x + self.attention(self.norm(x))


class Variant:
    """A model, its optimizer and its training step."""

    def __init__(self, model, compiled):
        self.model = model
        self.forward = torch.compile(model, dynamic=False) if compiled \
            else model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(self, x, target):
        self.optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(self.forward(x), target)
        loss.backward()
        self.optimizer.step()
        return loss

    def gradients(self, x, target):
        """The first step's gradients (before its update)."""
        self.optimizer.zero_grad(set_to_none=True)
        nn.functional.mse_loss(self.forward(x), target).backward()
        return [p.grad.clone() for p in self.model.parameters()]

    def time(self, x, target, repeat):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            self.step(x, target)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3


def variants(layer_class, d, E, k, h, with_compile):
    """The four models, from moa's layer (`layer_class`) and the peer."""
    torch.manual_seed(0)
    layer = layer_class(d, E, k, h)
    with torch.no_grad():  # a spread router: clear top-k choices
        layer.w_gate.normal_(0, 1)
    ours = Block(layer, d)
    peer = Block(TorchMoA(layer), d)
    peer.norm.load_state_dict(ours.norm.state_dict())
    found = {"moa": Variant(ours, False),
             "eager": Variant(peer, False)}
    if with_compile and hasattr(torch, "compile"):
        found["compiled"] = Variant(copy.deepcopy(peer), True)
        if hasattr(torch.library, "custom_op"):
            found["moa+compile"] = Variant(copy.deepcopy(ours), True)
    return found


def relative(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", help="the build's bin directory (its "
                        "build is the one moa uses)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    if args.bin:  # the build moa.torch loads its runtime and compiler from
        os.environ.setdefault("MOA_HOME",
                              os.path.dirname(os.path.abspath(args.bin)))
    import moa.torch as mt
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; training "
          f"step (forward, backward, AdamW), median of {args.repeat} steps, "
          f"median over {args.rounds} rounds")
    ok = True
    for name, B, T, d, E, k, h in CONFIGS:
        models = variants(mt.MixtureOfAttention, d, E, k, h,
                          not args.no_compile)
        gen = torch.Generator().manual_seed(1)
        x = torch.rand(B, T, d, generator=gen) * 2 - 1
        target = torch.randn(B, T, d, generator=gen)
        reference = models["eager"].gradients(x, target)
        errors = {v: max(relative(a, b) for a, b in
                         zip(m.gradients(x, target), reference))
                  for v, m in models.items() if v != "eager"}
        for model in models.values():  # warm-up (compiles)
            model.step(x, target)
            model.step(x, target)
        times = {v: [] for v in models}
        for _ in range(args.rounds):
            for v, model in models.items():
                times[v].append(model.time(x, target, args.repeat))
        ms = {v: statistics.median(t) for v, t in times.items()}
        agree = max(errors.values()) <= TOLERANCE
        ok &= agree
        print(f"{name}: " + ", ".join(f"{v} {t:.1f} ms" for v, t in
                                      ms.items()) + "; " +
              ", ".join(f"{v}/moa {t / ms['moa']:.2f}" for v, t in ms.items()
                        if v != "moa") +
              "; max rel grad err vs eager " +
              ", ".join(f"{v} {e:.1e}" for v, e in errors.items()) +
              ("" if agree else "  DISAGREE"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
