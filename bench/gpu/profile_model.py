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
  shared-memory time (wavefronts * 128 B + the bytes wgmma reads as A and B
                     and TMA writes) / (132 SMs * 128 B/clk * 1.98 GHz),
  each pipe's time   thread instructions of its class / (132 SMs * its
                     lanes per SM * 1.98 GHz): float 128, special functions
                     and conversions 16, shuffles 32,
  issue time         warp instructions (thread instructions / 32, plus
                     memory requests and mma.sync) / (132 SMs * 4
                     schedulers * 1.98 GHz),
except integer instructions: counted as the GPU dialect writes index
arithmetic, before LLVM hoists and strength-reduces it, they are an upper
bound and printed apart (with the integer pipe's 64 lanes per SM as a time),
not taken as a bound.
Every bound but memory is a per-SM resource: a launch's blocks (the
profile's per-block work, MOA_EMU_PROFILE_BLOCKS) are handed out in the
hardware's order to the SM with the least work so far (list scheduling, as
the block dispatcher refills SMs), and the bound is the busiest SM's share:
a grid smaller than the machine, a last wave partly empty, or blocks of
unequal work cost their real share of the SMs (the "SM fill" column: the
work spread evenly over 132 SMs, over the busiest SM's).
It is labelled a MODEL wherever it is printed: latency, occupancy's effect and
launch overheads are not counted, instructions are counted on the GPU
dialect (not SASS), and a small T_RUN fills expert tiles worse than the
full shape. Registers and static shared memory come from ptxas for sm_90a
(when the CUDA toolkit is there), dynamic shared memory from the profile,
and the occupancy they allow (warps resident per SM over 64) is printed
beside the estimate. docs/gpu-profile.md
has the figures' sources. The columns that need no model: coalescing, the
distinct bytes each warp asked for over the bytes of the 32-byte sectors it
touched (1 is perfect), the sectors' bytes (L1 traffic), and shared-memory
wavefronts over the fewest the requests could take (1: no bank conflicts).

usage: profile_model.py MOA_COMPILE MOA_RUN WORKDIR [--tokens T_RUN]
         [--sequences B] [--small]
       profile_model.py MOA_COMPILE MOA_RUN WORKDIR --attention T [--causal]
         [--batches 1,8]
         (the attention kernel alone on sequences of T tokens)
(or bench_gpu.py --model --compile MOA_COMPILE --run MOA_RUN --models DIR)
"""
import argparse
import heapq
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from layer_common import module_text  # noqa: E402

TC_FLOPS = 989.5e12  # H200 SXM, dense BF16 tensor core
HBM_BYTES = 4.8e12  # H200 SXM, HBM3e
SMS, CLOCK = 132, 1.98e9  # H100/H200 SXM5: SMs, maximum boost clock
SMEM_BYTES = SMS * 128 * CLOCK  # bytes per clock per SM
CLASSES = ["float", "integer", "special", "conversion", "shuffle", "branch"]
# Results per clock per SM of each class's pipe (compute capability 9.0);
# branches are counted in the issue bound only.
LANES = {"float": 128, "special": 16, "conversion": 16, "shuffle": 32}
INTEGER_LANES = 64
SCHEDULERS = 4  # warp instructions issued per clock per SM

GLOBAL = r"requests (\d+), bytes (\d+) \(distinct (\d+)\), sectors (\d+)"
SHARED = r"requests (\d+), bytes (\d+), wavefronts (\d+) \(ideal (\d+)\)"
INSTRUCTIONS = ", ".join(rf"{c} (\d+)" for c in CLASSES)
LINE = re.compile(
    r"launch (\S+) grid \d+x\d+ block (\d+) \| tensor-core flop (\d+) \| "
    rf"global load: {GLOBAL} \| global store: {GLOBAL} \| "
    r"global distinct sectors (\d+) \| "
    rf"shared load: {SHARED} \| shared store: {SHARED} \| "
    rf"barriers per block \d+ \| thread instructions: {INSTRUCTIONS} \| "
    r"async shared bytes: wgmma reads (\d+), TMA writes (\d+) \| "
    r"dynamic shared bytes (\d+)")
BLOCKS = re.compile(r"  blocks \d+:(.*)")
# A block's work (Profile.cpp's BlockWork): tensor-core flop, warp requests,
# shared wavefronts, wgmma and TMA shared bytes, then thread instructions by
# class.
BLOCK_FIELDS = ["flop", "requests", "wavefronts", "async"] + CLASSES
FIELDS = ["flop", "gld_r", "gld_b", "gld_d", "gld_s", "gst_r", "gst_b",
          "gst_d", "gst_s", "distinct_s", "shl_r", "shl_b", "shl_w", "shl_i",
          "shs_r", "shs_b", "shs_w", "shs_i"] + CLASSES + ["tc_shared",
                                                        "tma_shared"]


def compile_profiled(compiler, work, name, d, E, k, h, dtype):
    """The configuration's layer compiled for the emulator, profiled."""
    base = os.path.join(work, name)
    with open(base + ".mlir", "w") as f:
        f.write(module_text(d, E, k, h, dtype))
    subprocess.run([compiler, base + ".mlir", "--target=cuda", "--emulate-gpu",
                    "--emulate-gpu-profile", "-o", base + ".so"], check=True)
    return base + ".so"


def parse_blocks(text):
    """[block work dict] from a `blocks` line's runs (`a,b,...[*count]`)."""
    blocks = []
    for run in text.split():
        work, _, count = run.partition("*")
        block = dict(zip(BLOCK_FIELDS, map(int, work.split(","))))
        blocks += [block] * int(count or 1)
    return blocks


def run_profiled(runner, module, entry, tokens, out, sequences=1):
    """[(kernel, counts, [block work])] of each launch of `entry` run on
    `sequences` x `tokens` random inputs under the profile."""
    if os.path.exists(out):
        os.remove(out)
    subprocess.run([runner, module, entry, "--random", "--dims",
                    f"{sequences},{tokens}"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, MOA_EMU_PROFILE=out,
                            MOA_EMU_PROFILE_BLOCKS="1"))
    launches = []
    with open(out) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                counts = dict(zip(FIELDS, map(int, m.groups()[2:-1])))
                counts["block"] = int(m.group(2))
                counts["dynamic_smem"] = int(m.groups()[-1])
                launches.append((m.group(1), counts, []))
            elif (b := BLOCKS.match(line)) and launches:
                launches[-1][2].extend(parse_blocks(b.group(1)))
    return launches


def profile(runner, module, tokens, sequences=1):
    """{kernel: (summed counts, summed MODEL times by bound)} of one run on
    `sequences` x `tokens`."""
    kernels = {}
    for name, counts, blocks in run_profiled(
            runner, module, "moa_layer", tokens,
            f"{module}.{sequences}x{tokens}.profile", sequences):
        total, times = kernels.setdefault(
            name, (dict.fromkeys(FIELDS, 0), {}))
        total["block"] = counts["block"]
        total["dynamic_smem"] = counts["dynamic_smem"]
        for field in FIELDS:
            total[field] += counts[field]
        for bound, t in estimate(counts, blocks).items():
            times[bound] = times.get(bound, 0) + t
    return kernels


def occupancy(registers, smem, threads):
    """Warps resident per SM over 64 on sm_90 (CUDA C++ Programming Guide,
    compute capability 9.0: 65536 registers, allocated per warp in units of
    256; 228 KB of shared memory, 1 KB of it reserved per block; 2048
    threads and 32 blocks per SM)."""
    warps = -(-threads // 32)
    per_warp = -(-max(registers, 1) * 32 // 256) * 256
    blocks = min(65536 // (per_warp * warps), 233472 // (smem + 1024),
                 2048 // threads, 32)
    return blocks * warps / 64


def ptxas_resources(module_mlir, compiler, chip="sm_90a"):
    """{kernel: (registers, static shared bytes)} for `chip`, or {} without
    the CUDA toolkit's ptxas."""
    from ptxas_report import ptxas_path, report
    if not os.path.exists(ptxas_path()):
        return {}
    return {row["name"]: (row.get("registers", 0), row["smem"])
            for row in report(compiler, module_mlir, chip, ptxas_path())}


def arithmetic_warp_instructions(c):
    """The warp instructions of every class but integer (an upper bound,
    printed apart) in the counts `c` of one kernel."""
    return sum(c[k] for k in CLASSES if k != "integer") / 32


def sm_seconds(w):
    """Each per-SM bound's time in seconds for work `w` on one SM (a block's,
    or the sum of those an SM runs)."""
    warp_instructions = (sum(w[k] for k in CLASSES if k != "integer") / 32 +
                         w["requests"] +
                         w["flop"] / 4096)  # a warp's mma.sync: 4096 flop
    times = {"tensor cores": w["flop"] / (TC_FLOPS / SMS),
             "shared memory": (w["wavefronts"] * 128 + w["async"]) /
             (SMEM_BYTES / SMS),
             "issue": warp_instructions / (SCHEDULERS * CLOCK)}
    for k, lanes in LANES.items():
        times[f"{k} pipe"] = w[k] / (lanes * CLOCK)
    return times


def busiest_sm(blocks):
    """The per-SM bounds of the SM with the most of each, once `blocks` (in
    dispatch order) go each to the SM with the least work so far (its
    largest bound)."""
    sms = [(0.0, i) for i in range(SMS)]
    work = [dict.fromkeys(BLOCK_FIELDS, 0) for _ in range(SMS)]
    for block in blocks:
        load, sm = heapq.heappop(sms)
        for field in BLOCK_FIELDS:
            work[sm][field] += block[field]
        heapq.heappush(sms, (max(sm_seconds(work[sm]).values()), sm))
    times = [sm_seconds(w) for w in work]
    return {bound: max(t[bound] for t in times) for bound in times[0]}


def launch_work(c):
    """A launch's counts `c` as one block's work."""
    return {"flop": c["flop"],
            "requests": c["gld_r"] + c["gst_r"] + c["shl_r"] + c["shs_r"],
            "wavefronts": c["shl_w"] + c["shs_w"],
            "async": c["tc_shared"] + c["tma_shared"],
            **{k: c[k] for k in CLASSES}}


def estimate(c, blocks=None):
    """Each bound's time in seconds for the counts `c` of a launch (or of
    launches summed): memory over the whole GPU; the others the busiest SM's
    once `blocks` are spread, or, without them, the work spread evenly over
    the SMs."""
    if blocks:
        times = busiest_sm(blocks)
    else:
        times = {bound: t / SMS
                 for bound, t in sm_seconds(launch_work(c)).items()}
    times["memory"] = c["distinct_s"] * 32 / HBM_BYTES
    return times


def sm_fill(c, times):
    """The largest per-SM bound with the work spread evenly over the SMs,
    over the same bound of the busiest SM (1: every SM equally busy)."""
    even = estimate(c)
    bound = max((b for b in times if b != "memory"), key=times.get)
    return even[bound] / times[bound] if times[bound] else 1.0


def table(name, shape, kernels, resources):
    """Prints the configuration's table; returns {kernel: model us}."""
    print(f"\n{name} at {shape} tokens: MODEL (the emulator's profile as an "
          "H200 roofline, not a measurement)")
    print("| kernel | tc GFLOP | DRAM MB (least) | L1 sectors MB | coalescing | "
          "shared wavefronts / fewest | warp instr (k) | integer us (at most) | "
          "regs | occupancy | SM fill | model us | bound by |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    estimates = {}
    for kernel, (c, times) in kernels.items():
        sectors = c["gld_s"] + c["gst_s"]
        used = c["gld_d"] + c["gst_d"]
        wavefronts = c["shl_w"] + c["shs_w"]
        ideal = c["shl_i"] + c["shs_i"]
        bound = max(times, key=times.get)
        estimates[kernel] = times[bound] * 1e6
        registers, smem = resources.get(kernel, (None, None))
        regs = "n/a" if registers is None else str(registers)
        occ = ("n/a" if registers is None else
               f"{occupancy(registers, smem + c['dynamic_smem'], c['block']):.2f}")
        instructions = arithmetic_warp_instructions(c)
        integer_us = c["integer"] / (SMS * INTEGER_LANES * CLOCK) * 1e6
        print(f"| {kernel} | {c['flop'] / 1e9:.3f} | "
              f"{c['distinct_s'] * 32 / 1e6:.2f} | "
              f"{sectors * 32 / 1e6:.2f} | "
              f"{used / max(32 * sectors, 1):.2f} | "
              f"{wavefronts / max(ideal, 1):.2f} | "
              f"{instructions / 1e3:.1f} | {integer_us:.2f} | {regs} | {occ} | "
              f"{sm_fill(c, times):.2f} | {times[bound] * 1e6:.2f} | {bound} |")
    print(f"| total | | | | | | | | | | | {sum(estimates.values()):.2f} | |")
    return estimates


def model_tables(compiler, runner, work, configs, tokens=256, sequences=1):
    """Profiles each configuration on the emulator, prints its table and
    writes the estimates to WORK/model.json for calibrate()."""
    os.makedirs(work, exist_ok=True)
    saved = {}
    for name, B, T, d, E, k, h, dtype in configs:
        run_tokens = min(tokens, T)
        module = compile_profiled(compiler, work, name, d, E, k, h, dtype)
        resources = ptxas_resources(module[:-len(".so")] + ".mlir", compiler)
        kernels = table(name, f"{sequences}x{run_tokens}",
                        profile(runner, module, run_tokens, sequences),
                        resources)
        saved[name] = {"tokens": run_tokens, "sequences": sequences,
                       "kernels": kernels}
    with open(os.path.join(work, "model.json"), "w") as f:
        json.dump(saved, f, indent=1)
    return 0


def attention_module(T, k, h, dtype, causal=False):
    """moa.multi_query_attention alone: the issue's attention goal's shape."""
    q = f"tensor<?x?x{k}x{h}x{dtype}>"
    kv = f"tensor<?x?x{h}x{dtype}>"
    return (f"func.func @attention(%q: {q}, %k: {kv}, %v: {kv}) -> {q} {{\n"
            f"  %o = moa.multi_query_attention %q, %k, %v"
            f"{' {causal}' if causal else ''} : {q}, {kv}, {kv}\n"
            f"  return %o : {q}\n}}\n")


# moa-lower-to-gpu's attention-split-below (GPUTiling::attentionSplitBelow):
# below this many blocks of 128 query rows, sm_90a attention blocks take 64
# rows and split the keys between their two consumers.
ATTENTION_SPLIT_BELOW = 106


def attention_table(compiler, runner, work, T, k, h, dtype, chip="sm_90a",
                    batches=(1, 8), causal=False):
    """The attention kernel alone on sequences of T tokens (k query slots
    each), in both of its sm_90a block shapes: its MODEL time and the
    share of dense peak the model credits it with. The emulator runs one
    sequence; B of them are each of its blocks B times over (the kernel's
    grid takes a row tile of every sequence, then the next tile's; a
    block's work does not depend on the data)."""
    os.makedirs(work, exist_ok=True)
    mask = "-causal" if causal else ""
    base = os.path.join(work, f"attention-{dtype}-T{T}-k{k}-h{h}{mask}-{chip}")
    with open(base + ".mlir", "w") as f:
        f.write(attention_module(T, k, h, dtype, causal))
    shapes = {"128 rows": 0, "64 rows, keys split": 1 << 40}
    profiles = {}
    for shape, below in shapes.items():
        module = f"{base}-{below}.so"
        subprocess.run([compiler, base + ".mlir", "--target=cuda",
                        "--emulate-gpu", "--emulate-gpu-profile",
                        f"--cuda-chip={chip}",
                        f"--gpu-tiling=attention-split-below={below}", "-o",
                        module], check=True)
        [(_, c, blocks)] = run_profiled(runner, module, "attention", T,
                                        f"{base}-{below}.profile")
        profiles[shape] = (c, blocks)
    resources = ptxas_resources(base + ".mlir", compiler, chip)
    regs = resources.get("moa_attention", ("n/a",))[0]
    print(f"\nmoa_attention alone, {dtype}, sequences of {T} tokens, k = {k}, "
          f"h = {h}{', causal' if causal else ''}, compiled for {chip}: MODEL "
          "(not a measurement); * the block shape the kernel picks")
    print("| sequences | blocks | tc GFLOP | shared MB (requests + wgmma + "
          "TMA) | regs | SM fill | model us | bound by | tensor cores / model "
          "(share of dense peak) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for batch in batches:
        wide = -(-T * k // 128) * batch
        picked = "128 rows" if wide >= ATTENTION_SPLIT_BELOW or chip != \
            "sm_90a" else "64 rows, keys split"
        for shape, (c, blocks) in profiles.items():
            cb = {f: v * batch for f, v in c.items()}
            times = estimate(cb, [b for b in blocks for _ in range(batch)])
            bound = max(times, key=times.get)
            shared = ((cb["shl_w"] + cb["shs_w"]) * 128 + cb["tc_shared"] +
                      cb["tma_shared"])
            print(f"| {batch}, {shape}{' *' if shape == picked else ''} | "
                  f"{len(blocks) * batch} | {cb['flop'] / 1e9:.2f} | "
                  f"{shared / 1e6:.1f} | {regs} | {sm_fill(cb, times):.2f} | "
                  f"{times[bound] * 1e6:.2f} | {bound} | "
                  f"{cb['flop'] / TC_FLOPS / times[bound]:.2f} |")
    return 0


def calibrate(runner, models, repeat):
    """The model's estimate (MODELS/model.json, from model_tables) against
    the layer's measured kernel span on the same shape (sequences x tokens), for
    each configuration compiled in MODELS: the ratio is the calibration."""
    path = os.path.join(models, "model.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = json.load(f)
    print("\nThe MODEL against the device, same shape (one sequence): "
          "measured / model is the model's calibration")
    print("| config | tokens | model us | measured us | measured / model |")
    print("|---|---:|---:|---:|---:|")
    from bench_gpu import timed_moa_run
    for name, entry in saved.items():
        module = os.path.join(models, name + ".so")
        if not os.path.exists(module):
            continue
        result, moa_ms, _ = timed_moa_run(
            runner, [module, "moa_layer", "--random", "--dims",
                     f"{entry.get('sequences', 1)},{entry['tokens']}",
                     "--repeat", str(repeat)],
            os.path.join(models, name + ".calibration"))
        if result.returncode != 0:
            print(f"| {name} | moa-run failed: {result.stderr.strip()} |")
            continue
        measured = moa_ms * 1e3
        model = sum(entry["kernels"].values())
        print(f"| {name} | {entry['tokens']} | {model:.2f} | {measured:.2f} | "
              f"{measured / model:.1f} |")


def main():
    from bench_gpu import CONFIGS, SMALL
    parser = argparse.ArgumentParser()
    parser.add_argument("compiler")
    parser.add_argument("runner")
    parser.add_argument("work")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--sequences", type=int, default=1,
                        help="the sequences of --tokens the emulator runs "
                        "(the benchmark's B; slow)")
    parser.add_argument("--small", action="store_true",
                        help="the small dry-run configurations")
    parser.add_argument("--only", default="",
                        help="the configurations whose name contains this")
    parser.add_argument("--attention", type=int, default=0, metavar="T",
                        help="instead, the attention kernel alone at T tokens "
                        "(bf16, k = 4, h = 128)")
    parser.add_argument("--chip", default="sm_90a",
                        help="with --attention: the chip to compile for")
    parser.add_argument("--causal", action="store_true",
                        help="with --attention: under a causal mask")
    parser.add_argument("--batches", default="1,8",
                        help="with --attention: the numbers of sequences to "
                        "model (the emulated one's blocks repeated)")
    args = parser.parse_args()
    if args.attention:
        return attention_table(args.compiler, args.runner, args.work,
                               args.attention, 4, 128, "bf16", args.chip,
                               [int(b) for b in args.batches.split(",")],
                               args.causal)
    configs = [c for c in (SMALL if args.small else CONFIGS) if args.only in c[0]]
    return model_tables(args.compiler, args.runner, args.work, configs,
                        args.tokens, args.sequences)


if __name__ == "__main__":
    sys.exit(main())
