#!/usr/bin/python3
"""CPU benchmark of a training step: forward + backward of the compiled MoA
layer against PyTorch autograd (official algorithm; eager, and torch.compile
where this PyTorch has it) on the same inputs and the same output gradient
dy, in the same run.

For each configuration: write the layer module (B and T dynamic, returning y
only), compile it with `moa-compile --pre-pipeline=moa-generate-gradients`,
which adds `moa_layer_grad(x, w_gate, w_query, w_key, w_value, w_out, dy) ->
(dx, dw_gate, dw_query, dw_key, dw_value, dw_out)` running the forward and
the backward in one call. Inputs are drawn once (as bench/bench_cpu.py draws
them, seed 0) with dy ~ N(0, 1). Ours: `moa-run --repeat N` on the .npy
files (one untimed warm-up run, median of N timed calls of the entry; file
I/O is outside the timed region). PyTorch: bench/moa_torch.py forward, then
y.backward(dy), timed together (two warm-up steps, the compiled peer compiles
there; gradients set to None before each step, outside the timer), median of
N. Both are repeated in interleaved rounds; the table shows the median over
rounds of each side's median and the median of the per-round ratios. Every gradient is checked:
max |moa - torch| / max |torch| <= 1e-3 (a float64 PyTorch run is shown too,
to tell which side is off when they disagree). Run through
bench/run_cpu.sh, which installs and builds what it needs.

OMP_WAIT_POLICY is PASSIVE unless set: with libgomp's default spin-waiting,
PyTorch's autograd step on 2 cores takes 1.25x to 3.2x longer on an idle
machine (its OpenMP threads spin against OpenBLAS' threads), and several
times longer when anything else runs, which would flatter moa. moa's libomp
already runs with KMP_BLOCKTIME=0 (what PASSIVE means there; moa's times
are the same either way). It applies to both sides. OMP_WAIT_POLICY=default
runs both as they come, without it.

--mixed: mixed precision on both sides: moa-generate-gradients
{mixed-precision=bf16} against the PyTorch peers under
torch.autocast("cpu", torch.bfloat16) (router in f32 on both), inputs and
weights f32. The two round at different points (autocast keeps bf16
activations between ops that moa keeps in f32), so each side's gradients
are measured against the float64 run and they must agree within 5e-2.
"""
import os
# Before torch loads libgomp.
if os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE").lower() == "default":
    del os.environ["OMP_WAIT_POLICY"]
import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_common import layer_inputs, module_text  # noqa: E402
from moa_torch import moa_layer, peers  # noqa: E402

CONFIGS = [
    # name, B, T, d, E, k, h (f32)
    ("B4-T256-d512-E8-k2-h64", 4, 256, 512, 8, 2, 64),
    ("B2-T1024-d1024-E32-k4-h128", 2, 1024, 1024, 32, 4, 128),
]
NAMES = ["dx", "dw_gate", "dw_query", "dw_key", "dw_value", "dw_out"]
TOLERANCE = 1e-3
MIXED_TOLERANCE = 5e-2


class Case:
    """One configuration: compiled module and inputs, prepared once."""

    def __init__(self, bin_dir, work, mixed, name, B, T, d, E, k, h):
        self.bin_dir, self.name, self.k = bin_dir, name, k
        # The forward benchmark's inputs, then dy from the same generator.
        rng = np.random.default_rng(0)
        self.inputs = layer_inputs(rng, B, T, d, E, h)
        self.dy = np.ascontiguousarray(rng.normal(0, 1, (B, T, d)),
                                       dtype=np.float32)
        self.base = os.path.join(work, name)
        with open(self.base + ".mlir", "w") as f:
            f.write(module_text(d, E, k, h, "f32"))
        gradients = "moa-generate-gradients" + (
            "{mixed-precision=bf16}" if mixed else "")
        subprocess.run([os.path.join(bin_dir, "moa-compile"),
                        self.base + ".mlir", "--pre-pipeline=" + gradients,
                        "-o", self.base + ".so"], check=True)
        self.paths = []
        for i, a in enumerate(self.inputs + [self.dy]):
            self.paths.append(f"{self.base}.in{i}.npy")
            np.save(self.paths[-1], a)
        os.makedirs(self.base + ".out", exist_ok=True)
        self.params = [torch.from_numpy(a.copy()).requires_grad_()
                       for a in self.inputs]
        self.dy_t = torch.from_numpy(self.dy)

    def ours(self, repeat):
        """Median ms of moa_layer_grad in moa-run (one warm-up run), and
        the gradients it returned."""
        result = subprocess.run(
            [os.path.join(self.bin_dir, "moa-run"), self.base + ".so",
             "moa_layer_grad", *self.paths, "--repeat", str(repeat),
             "-o", self.base + ".out"],
            check=True, capture_output=True, text=True)
        ms = float(re.search(r"time: ([0-9.]+) ms", result.stdout).group(1))
        grads = [np.load(os.path.join(self.base + ".out", f"out{i}.npy"))
                 for i in range(len(NAMES))]
        return ms, grads

    def torch(self, layer, repeat):
        """Median ms of a PyTorch peer's forward + backward (two warm-up
        steps), and the gradients."""
        times = []
        for step in range(2 + repeat):
            for p in self.params:  # outside the timer
                p.grad = None
            start = time.perf_counter()
            y = layer(*self.params, self.k)
            y.backward(self.dy_t)
            if step >= 2:
                times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times), [p.grad.numpy() for p in self.params]

    def float64_grads(self):
        params = [torch.from_numpy(a.astype(np.float64)).requires_grad_()
                  for a in self.inputs]
        y = moa_layer(*params, self.k)
        y.backward(self.dy_t.double())
        return [p.grad.numpy() for p in params]


def autocast(layer):
    """`layer` as a PyTorch user runs it in mixed precision on the CPU."""
    def run(*args):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return layer(*args)
    return run


def rel(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="build/bin directory")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds (moa, torch, moa, ...)")
    parser.add_argument("--no-compile", action="store_true",
                        help="PyTorch eager only, no torch.compile")
    parser.add_argument("--mixed", action="store_true",
                        help="mixed precision (bf16) on both sides")
    parser.add_argument("--configs", default="",
                        help="comma-separated configuration names (all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    layers = peers(compiled=not args.no_compile)
    if args.mixed:
        layers = {name: autocast(layer) for name, layer in layers.items()}
    tolerance = MIXED_TOLERANCE if args.mixed else TOLERANCE
    configs = [c for c in CONFIGS
               if not args.configs or c[0] in args.configs.split(",")]
    if not configs:
        parser.error(f"--configs {args.configs}: none of "
                     + ", ".join(c[0] for c in CONFIGS))
    print(f"torch {torch.__version__} ({', '.join(layers)}), "
          f"{torch.get_num_threads()} threads; "
          f"{'mixed precision (bf16), ' if args.mixed else ''}"
          f"forward + backward; median of {args.repeat} runs each, "
          f"{args.rounds} interleaved rounds; OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    ok = True
    rows = []
    with tempfile.TemporaryDirectory() as work:
        cases = [Case(args.bin, work, args.mixed, *c) for c in configs]
        for case in cases:
            ours = []
            theirs = {name: [] for name in layers}
            ratios = {name: [] for name in layers}
            errors = [0.0] * len(NAMES)
            for _ in range(args.rounds):
                ms, grads = case.ours(args.repeat)
                ours.append(ms)
                for name, layer in layers.items():
                    ms, reference = case.torch(layer, args.repeat)
                    theirs[name].append(ms)
                    ratios[name].append(ms / ours[-1])
                    errors = [max(e, rel(g, r)) for e, g, r in
                              zip(errors, grads, reference)]
            exact = case.float64_grads()
            errors64 = [rel(g, r) for g, r in zip(grads, exact)]
            torch64 = [rel(r, e) for r, e in zip(reference, exact)]
            rows.append((case, statistics.median(ours),
                         {n: statistics.median(t) for n, t in theirs.items()},
                         {n: statistics.median(r) for n, r in ratios.items()},
                         errors, errors64, torch64))
    header = f"{'config':28} {'moa ms':>9}" + "".join(
        f" {name + ' ms':>12} {name + '/moa':>12}" for name in layers) + \
        f"  max rel err vs torch {'autocast bf16' if args.mixed else 'f32'} (" \
        + ", ".join(NAMES) + ")"
    print(header)
    print("-" * len(header))
    for case, ours, theirs, ratios, errors, _, _ in rows:
        bad = [n for n, e in zip(NAMES, errors) if not e <= tolerance]
        ok &= not bad
        print(f"{case.name:28} {ours:9.2f}" + "".join(
            f" {theirs[n]:12.2f} {ratios[n]:12.2f}" for n in layers) + "  "
            + " ".join(f"{e:.1e}" for e in errors)
            + (f"  DISAGREE: {', '.join(bad)}" if bad else ""))
    print("load average at the end: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("against a float64 PyTorch run (moa | torch "
          f"{'autocast bf16' if args.mixed else 'f32'}, the last peer):")
    for case, _, _, _, _, errors64, torch64 in rows:
        print(f"  {case.name:28} " + "  ".join(
            f"{n} {m:.1e}|{t:.1e}" for n, m, t in zip(NAMES, errors64, torch64)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
