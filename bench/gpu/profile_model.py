#!/usr/bin/env python3
"""A model of the layer's GPU kernels on an H200, from the emulator's profile.

Each benchmark configuration of bench_gpu.py (its d, E, k, h and dtype) is
compiled with --emulate-gpu-profile and run by the emulator on one sequence
of T_RUN tokens (default 256: the emulator is far too slow for the full
shapes, and counts do not extrapolate simply: a grouped GEMM stages whole
64-row tiles however few rows its experts get). Each kernel's counts
(test/lib/GPUEmulator/Profile.cpp) become a roofline estimate for that
shape: the largest of
  tensor-core time   flop / 989.5 TFLOP/s (dense bf16),
  memory time        the launch's distinct 32-byte sectors * 32 B / 4.8 TB/s
                     (HBM3e; each sector from DRAM once: perfect caching,
                     a lower bound),
  shared-memory time wavefronts * 128 B / (132 SMs * 128 B/clk * 1.98 GHz),
labelled a MODEL wherever it is printed: CUDA-core arithmetic, latency,
occupancy and launch overheads are not counted, and a small T_RUN fills
expert tiles worse than the full shape. docs/gpu-profile.md has the figures'
sources. The columns that need no model: coalescing, the distinct bytes each
warp asked for over the bytes of the 32-byte sectors it touched (1 is
perfect), the sectors' bytes (L1 traffic),
and shared-memory wavefronts over the fewest the requests could take (1:
no bank conflicts).

usage: profile_model.py MOA_COMPILE MOA_RUN WORKDIR [--tokens T_RUN] [--small]
(or bench_gpu.py --model --compile MOA_COMPILE --run MOA_RUN --models DIR)
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from layer_common import module_text  # noqa: E402

TC_FLOPS = 989.5e12  # H200 SXM, dense BF16 tensor core
HBM_BYTES = 4.8e12  # H200 SXM, HBM3e
SMEM_BYTES = 132 * 128 * 1.98e9  # SMs * bytes per clock * boost clock

GLOBAL = r"requests (\d+), bytes (\d+) \(distinct (\d+)\), sectors (\d+)"
SHARED = r"requests (\d+), bytes (\d+), wavefronts (\d+) \(ideal (\d+)\)"
LINE = re.compile(
    r"launch (\S+) grid \d+x\d+ block \d+ \| tensor-core flop (\d+) \| "
    rf"global load: {GLOBAL} \| global store: {GLOBAL} \| "
    r"global distinct sectors (\d+) \| "
    rf"shared load: {SHARED} \| shared store: {SHARED} \| "
    r"barriers per block \d+")
FIELDS = ["flop", "gld_r", "gld_b", "gld_d", "gld_s", "gst_r", "gst_b",
          "gst_d", "gst_s", "distinct_s", "shl_r", "shl_b", "shl_w", "shl_i",
          "shs_r", "shs_b", "shs_w", "shs_i"]


def compile_profiled(compiler, work, name, d, E, k, h, dtype):
    """The configuration's layer compiled for the emulator, profiled."""
    base = os.path.join(work, name)
    with open(base + ".mlir", "w") as f:
        f.write(module_text(d, E, k, h, dtype))
    subprocess.run([compiler, base + ".mlir", "--target=cuda", "--emulate-gpu",
                    "--emulate-gpu-profile", "-o", base + ".so"], check=True)
    return base + ".so"


def profile(runner, module, tokens):
    """{kernel: summed counts} of one run on 1 x `tokens`."""
    out = f"{module}.{tokens}.profile"
    if os.path.exists(out):
        os.remove(out)
    subprocess.run([runner, module, "moa_layer", "--random", "--dims",
                    f"1,{tokens}"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, MOA_EMU_PROFILE=out))
    kernels = {}
    with open(out) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            counts = kernels.setdefault(m.group(1), dict.fromkeys(FIELDS, 0))
            for field, value in zip(FIELDS, m.groups()[1:]):
                counts[field] += int(value)
    return kernels


def table(name, tokens, kernels):
    print(f"\n{name} at 1x{tokens} tokens: MODEL (the emulator's profile as an "
          "H200 roofline, not a measurement)")
    print("| kernel | tc GFLOP | DRAM MB (least) | L1 sectors MB | coalescing | "
          "shared wavefronts / fewest | model us | bound by |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    total = 0.0
    for kernel, c in kernels.items():
        flop = c["flop"]
        sectors = c["gld_s"] + c["gst_s"]
        dram = c["distinct_s"] * 32
        used = c["gld_d"] + c["gst_d"]
        touched = 32 * sectors
        wavefronts = c["shl_w"] + c["shs_w"]
        ideal = c["shl_i"] + c["shs_i"]
        times = {"tensor cores": flop / TC_FLOPS,
                 "memory": dram / HBM_BYTES,
                 "shared memory": wavefronts * 128 / SMEM_BYTES}
        bound = max(times, key=times.get)
        total += times[bound]
        print(f"| {kernel} | {flop / 1e9:.3f} | {dram / 1e6:.2f} | "
              f"{sectors * 32 / 1e6:.2f} | "
              f"{used / max(touched, 1):.2f} | "
              f"{wavefronts / max(ideal, 1):.2f} | {times[bound] * 1e6:.2f} | "
              f"{bound} |")
    print(f"| total | | | | | | {total * 1e6:.2f} | |")


def model_tables(compiler, runner, work, configs, tokens=256):
    """Profiles each configuration on the emulator and prints its table."""
    os.makedirs(work, exist_ok=True)
    for name, B, T, d, E, k, h, dtype in configs:
        run_tokens = min(tokens, T)
        module = compile_profiled(compiler, work, name, d, E, k, h, dtype)
        table(name, run_tokens, profile(runner, module, run_tokens))
    return 0


def main():
    from bench_gpu import CONFIGS, SMALL
    parser = argparse.ArgumentParser()
    parser.add_argument("compiler")
    parser.add_argument("runner")
    parser.add_argument("work")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--small", action="store_true",
                        help="the small dry-run configurations")
    parser.add_argument("--only", default="",
                        help="the configurations whose name contains this")
    args = parser.parse_args()
    configs = [c for c in (SMALL if args.small else CONFIGS) if args.only in c[0]]
    return model_tables(args.compiler, args.runner, args.work, configs,
                        args.tokens)


if __name__ == "__main__":
    sys.exit(main())
