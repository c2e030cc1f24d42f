#!/usr/bin/python3
"""CPU benchmark: the compiled MoA layer against PyTorch (official
algorithm) on the same inputs in the same run: eager, and torch.compile where
this PyTorch has it (moa_torch.peers).

For each configuration: write the layer module (B and T dynamic), compile it
with moa-compile, draw inputs once, run ours with `moa-run --repeat N` (its
median), run each PyTorch peer N times after its warm-up (median), check the
outputs agree, print the ratios; then the E=64 / E=8 time ratios from
interleaved rounds. Run through bench/run_cpu.sh, which installs and builds
what it needs, runs it with Debian's PyTorch and with a current one from
PyPI, and sets OMP_WAIT_POLICY=PASSIVE for both sides.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_common import (from_bf16_bits, layer_inputs, macs,  # noqa: E402
                          module_text, to_bf16_bits)
from moa_torch import peers  # noqa: E402

CONFIGS = [
    # name, B, T, d, E, k, h[, dtype]
    ("B4-T256-d512-E8-k2-h64", 4, 256, 512, 8, 2, 64),
    ("B2-T1024-d1024-E32-k4-h128", 2, 1024, 1024, 32, 4, 128),
    # bf16 activations and weights (f32 router and accumulation in moa).
    ("bf16-B4-T256-d512-E8-k2-h64", 4, 256, 512, 8, 2, 64, "bf16"),
]
# The paper's claim: at fixed k, cost stays flat in E. At 1024 tokens the
# E=64 weights (16 MiB of W_q and W_o) are read for 32 rows per expert; at
# 4096 tokens the same weights serve 4x the rows.
SCALING = [("scaling-E8-1k-tokens", 4, 256, 512, 8, 2, 64),
           ("scaling-E64-1k-tokens", 4, 256, 512, 64, 2, 64),
           ("scaling-E8-4k-tokens", 16, 256, 512, 8, 2, 64),
           ("scaling-E64-4k-tokens", 16, 256, 512, 64, 2, 64)]


class Case:
    """One configuration: compiled module and inputs, prepared once."""

    def __init__(self, bin_dir, work, name, B, T, d, E, k, h, dtype="f32"):
        self.bin_dir, self.name, self.k, self.dtype = bin_dir, name, k, dtype
        self.macs = macs(B, T, d, E, k, h)
        self.inputs = layer_inputs(np.random.default_rng(0), B, T, d, E, h)
        bf16 = dtype == "bf16"
        if bf16:  # both sides get the same bf16-rounded values
            self.inputs = [a if i == 1 else from_bf16_bits(to_bf16_bits(a))
                           for i, a in enumerate(self.inputs)]
        self.base = os.path.join(work, name)
        with open(self.base + ".mlir", "w") as f:
            f.write(module_text(d, E, k, h, dtype))
        subprocess.run([os.path.join(bin_dir, "moa-compile"),
                        self.base + ".mlir", "-o", self.base + ".so"],
                       check=True)
        self.paths = []
        for i, a in enumerate(self.inputs):
            self.paths.append(f"{self.base}.in{i}.npy")
            np.save(self.paths[-1], to_bf16_bits(a) if bf16 and i != 1 else a)
        os.makedirs(self.base + ".out", exist_ok=True)
        self.tensors = [torch.from_numpy(a) for a in self.inputs]
        if bf16:
            self.tensors = [t if i == 1 else t.to(torch.bfloat16)
                            for i, t in enumerate(self.tensors)]

    def ours(self, repeat):
        """Median ms of moa-run (one warm-up run), and its output."""
        result = subprocess.run(
            [os.path.join(self.bin_dir, "moa-run"), self.base + ".so",
             "moa_layer", *self.paths, "--repeat", str(repeat),
             "-o", self.base + ".out"],
            check=True, capture_output=True, text=True)
        ms = float(re.search(r"time: ([0-9.]+) ms", result.stdout).group(1))
        out = np.load(os.path.join(self.base + ".out", "out0.npy"))
        return ms, from_bf16_bits(out) if self.dtype == "bf16" else out

    def torch(self, layer, repeat):
        """Median ms of a PyTorch peer's layer (warm-up runs first: the
        compiled one compiles then), and its output."""
        times = []
        with torch.no_grad():
            for _ in range(2):
                out = layer(*self.tensors, self.k)
            for _ in range(repeat):
                start = time.perf_counter()
                out = layer(*self.tensors, self.k)
                times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times), out.float().numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="build/bin directory")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds for the scaling ratios")
    parser.add_argument("--no-compile", action="store_true",
                        help="PyTorch eager only, no torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(2)
    layers = peers(compiled=not args.no_compile)
    print(f"torch {torch.__version__} ({', '.join(layers)}), "
          f"{torch.get_num_threads()} threads; median of {args.repeat} runs "
          f"each; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    header = f"{'config':32} {'moa ms':>9}" + "".join(
        f" {name + ' ms':>12} {name + '/moa':>12}" for name in layers) + \
        f" {'moa GMAC/s':>10} {'max rel err':>11}"
    print(header)
    print("-" * len(header))
    ok = True
    with tempfile.TemporaryDirectory() as work:
        cases = {c[0]: Case(args.bin, work, *c) for c in CONFIGS + SCALING}
        for case in cases.values():
            ours, out = case.ours(args.repeat)
            line = f"{case.name:32} {ours:9.2f}"
            worst = 0.0
            for layer in layers.values():
                theirs, reference = case.torch(layer, args.repeat)
                line += f" {theirs:12.2f} {theirs / ours:12.2f}"
                worst = max(worst, np.abs(out - reference).max() /
                            np.abs(reference).max())
            agree = worst < (3e-2 if case.dtype == "bf16" else 1e-4)
            ok &= agree
            print(f"{line} {case.macs / ours / 1e6:10.1f} "
                  f"{worst:11.2e}{'' if agree else '  DISAGREE'}", flush=True)
        # The scaling ratio from interleaved rounds (E=8, E=64, E=8, ...),
        # median of the per-round ratios: steadier than one pair of runs on
        # a shared machine.
        for tokens in ("1k", "4k"):
            e8 = cases[f"scaling-E8-{tokens}-tokens"]
            e64 = cases[f"scaling-E64-{tokens}-tokens"]
            ours = []
            theirs = {name: [] for name in layers}
            for _ in range(args.rounds):
                ours.append(e64.ours(args.repeat)[0] / e8.ours(args.repeat)[0])
                for name, layer in layers.items():
                    theirs[name].append(e64.torch(layer, args.repeat)[0] /
                                        e8.torch(layer, args.repeat)[0])
            print(f"scaling at k=2, {tokens} tokens: time(E=64) / time(E=8) = "
                  f"{statistics.median(ours):.2f} (goal <= 1.2; median of "
                  f"{args.rounds} interleaved rounds); torch " + ", ".join(
                      f"{name} {statistics.median(r):.2f}"
                      for name, r in theirs.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
