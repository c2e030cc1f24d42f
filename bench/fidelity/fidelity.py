#!/usr/bin/env python3
"""MoA against multi-head attention at equal compute, on held-out text
(issue 18's benchmark; bench/fidelity/run.sh runs it).

Every model of the family (examples/lm/make_lm.py: dense MHA, MoA with the
same multiply-accumulates per token, MoA with more experts at the same k,
and a k = 4 point) is compiled with its training step and trained by
moa-train on the same characters (train.txt of make_corpus.py) for the same
number of steps and tokens, with seeds 1..N; every `--eval-every` steps it
is evaluated on held-out books (heldout.txt, never trained on). Runs write
checkpoints and resume from them, so an interrupted benchmark continues
where it stopped. The summary is a Markdown table (model, parameters,
MACs/token from moa-cost, held-out bits per character: mean and spread over
seeds, tokens/s) and an SVG of the held-out curves and head usage.
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAKE_LM = os.path.join(ROOT, "examples", "lm", "make_lm.py")

def mha(H, h):
    """(name, make_lm.py flags) of a dense multi-head attention model."""
    return (f"MHA H={H} h={h}",
            ["--attention", "mha", "--heads", str(H), "--head-dim", str(h)])


def moa(E, k, h):
    return (f"MoA E={E} k={k} h={h}",
            ["--attention", "moa", "--experts", str(E), "--top-k", str(k),
             "--head-dim", str(h)])


# MoA E=8 k=2 h=76 has MHA's MACs per token exactly (moa-cost, T = 128);
# E=4 and 16 at the same k and h, and k=4 at h=42, are within 0.5%.
FULL = dict(shape=["--layers", "2", "--d", "128", "--ffn", "512",
                   "--context", "128"],
            models=[mha(4, 32), moa(4, 2, 76), moa(8, 2, 76), moa(16, 2, 76),
                    moa(8, 4, 42)],
            length=128, batch=16, steps=2500, eval_every=250, eval_batches=16,
            seeds=3)
QUICK = dict(shape=["--layers", "1", "--d", "32", "--ffn", "64",
                    "--context", "32"],
             models=[mha(2, 16), moa(4, 2, 16)],
             length=32, batch=4, steps=20, eval_every=10, eval_batches=2,
             seeds=2)
TRAIN_STEP = ("moa-generate-train-step{{lr={lr} warmup-steps=100 "
              "max-grad-norm=1}}")


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"fidelity: {' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def prepare(bin_dir, work, config, name, flags, lr):
    """Compiles one model; returns (library, params, MACs per token)."""
    text = run([sys.executable, MAKE_LM, *config["shape"], *flags])
    source = os.path.join(work, slug(name) + ".mlir")
    with open(source, "w") as f:
        f.write(text)
    cost = run([sys.executable, MAKE_LM, *config["shape"], *flags,
                "--cost-shape", f"1,{config['length']}"])
    report = subprocess.run([os.path.join(bin_dir, "moa-opt"), "--moa-cost",
                             "-o", "/dev/null"], input=cost,
                            capture_output=True, text=True).stderr
    total = re.search(r"total: macs (\d+), params (\d+)", report)
    library = source[:-5] + ".so"
    if not os.path.exists(library):
        run([os.path.join(bin_dir, "moa-compile"), source, "-o", library,
             f"--pre-pipeline={TRAIN_STEP.format(lr=lr)}"])
    return library, int(total.group(2)), int(total.group(1)) / config["length"]


def train(bin_dir, work, config, library, name, seed, corpus, steps=None,
          tag=""):
    """Trains (or resumes) one run; returns its log."""
    checkpoint = os.path.join(work, f"{slug(name)}-seed{seed}{tag}.safetensors")
    log = checkpoint[:-12] + ".log"
    command = [os.path.join(bin_dir, "moa-train"), library, "--task", "text",
               "--text", os.path.join(corpus, "train.txt"),
               "--held-out", os.path.join(corpus, "heldout.txt"),
               "--steps", str(steps or config["steps"]),
               "--batch", str(config["batch"]),
               "--length", str(config["length"]), "--seed", str(seed),
               "--log-every", str(config["eval_every"]),
               "--eval-every", str(config["eval_every"]),
               "--eval-batches", str(config["eval_batches"]),
               "--checkpoint", checkpoint,
               "--save-every", str(config["eval_every"])]
    if os.path.exists(checkpoint):
        command += ["--resume", checkpoint]
    # The log grows as the run goes: a run resumed after an interruption
    # keeps the curve of the part before it.
    with open(log, "a") as f:
        if subprocess.run(command, stdout=f, stderr=subprocess.PIPE,
                          text=True).returncode != 0:
            sys.exit(f"fidelity: {' '.join(command)} failed (see {log})")
    return open(log).read()


def parse(log):
    """Held-out curve {step: bits}, tokens/s, final head usage (bits, max)."""
    curve = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        r"held-out at step (\d+): cross-entropy [\d.]+ nats, ([\d.]+) bits",
        log)}
    speeds = re.findall(r"\| (\d+) tok/s", log)
    heads = re.findall(r"heads ([\d.]+)/([\d.]+) bits", log)
    return curve, float(speeds[-1]) if speeds else math.nan, \
        tuple(map(float, heads[-1])) if heads else (math.nan, math.nan)


def svg(results, path, title):
    """Held-out bits per character against steps (mean over seeds), and
    the head usage (routing entropy / log2 E) of each model."""
    width, height, left, top = 720, 420, 60, 30
    plot_w, plot_h = 420, 320
    steps = sorted({s for r in results for s in r["curve"]})
    values = [v for r in results for v in r["curve"].values()]
    lo, hi = min(values), max(values)
    colours = ["#000000", "#1f77b4", "#d62728", "#2ca02c", "#9467bd",
               "#ff7f0e"]

    def xy(step, value):
        x = left + plot_w * (step - steps[0]) / max(steps[-1] - steps[0], 1)
        y = top + plot_h * (hi - value) / max(hi - lo, 1e-9)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="18" font-size="13">{title}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" '
             f'height="{plot_h}" fill="none" stroke="#888"/>',
             f'<text x="{left}" y="{top + plot_h + 16}">step {steps[0]}'
             f'</text><text x="{left + plot_w - 60}" y="{top + plot_h + 16}">'
             f'step {steps[-1]}</text>',
             f'<text x="4" y="{top + 10}">{hi:.3f}</text>'
             f'<text x="4" y="{top + plot_h}">{lo:.3f}</text>',
             f'<text x="4" y="{top + plot_h / 2}">bits/char</text>']
    for i, r in enumerate(results):
        colour = colours[i % len(colours)]
        points = " ".join(xy(s, v) for s, v in sorted(r["curve"].items()))
        parts.append(f'<polyline fill="none" stroke="{colour}" '
                     f'stroke-width="1.5" points="{points}"/>')
        y = top + 14 + 18 * i
        usage = r["usage"]
        bar = 0 if math.isnan(usage) else 120 * usage
        parts.append(f'<rect x="{left + plot_w + 20}" y="{y - 9}" width="10" '
                     f'height="10" fill="{colour}"/><text x="'
                     f'{left + plot_w + 34}" y="{y}">{r["name"]}</text>')
        parts.append(f'<rect x="{left + plot_w + 20}" y="{y + 160}" '
                     f'width="{bar:.1f}" height="10" fill="{colour}"/>'
                     f'<text x="{left + plot_w + 146}" y="{y + 169}">'
                     f'{"n/a" if math.isnan(usage) else f"{usage:.2f}"}'
                     '</text>')
    parts.append(f'<text x="{left + plot_w + 20}" y="{top + 160}">head '
                 'usage (routing entropy / log2 E)</text></svg>')
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def summarise(results, config, seconds):
    lines = ["| model | params | MACs/token | held-out bits/char (mean over "
             f"seeds 1-{config['seeds']}) | spread (min-max) | tokens/s | "
             "head usage |", "|---|---|---|---|---|---|---|"]
    for r in results:
        finals = r["finals"]
        usage = "n/a" if math.isnan(r["usage"]) else f"{r['usage']:.2f}"
        lines.append(
            f"| {r['name']} | {r['params']:,} | {r['macs']:,.0f} | "
            f"{statistics.mean(finals):.4f} | {min(finals):.4f}-"
            f"{max(finals):.4f} | {statistics.mean(r['speeds']):,.0f} | "
            f"{usage} |")
    lines.append(f"\n{config['steps']} steps of {config['batch']} x "
                 f"{config['length']} characters per model and seed "
                 f"({config['steps'] * config['batch'] * config['length']:,} "
                 f"tokens); wall time of the whole run {seconds / 60:.1f} min.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lr", default="2e-3",
                        help="peak learning rate (a sweep's other points)")
    parser.add_argument("--only", default="",
                        help="the models whose names contain this")
    parser.add_argument("--seeds", type=int, help="seeds 1..N (default: "
                        "3, or 2 with --quick)")
    args = parser.parse_args()
    start = time.time()
    config = dict(QUICK if args.quick else FULL)
    config["seeds"] = args.seeds or config["seeds"]
    config["models"] = [m for m in config["models"] if args.only in m[0]]
    if not config["models"]:
        sys.exit(f"fidelity: no model's name contains {args.only!r}")
    os.makedirs(args.work, exist_ok=True)
    results = []
    for name, flags in config["models"]:
        library, params, macs = prepare(args.bin, args.work, config, name,
                                        flags, args.lr)
        curves, speeds, finals, usage = [], [], [], []
        for seed in range(1, config["seeds"] + 1):
            curve, speed, heads = parse(train(args.bin, args.work, config,
                                              library, name, seed,
                                              args.corpus))
            curves.append(curve)
            speeds.append(speed)
            finals.append(curve[config["steps"]])
            usage.append(heads[0] / heads[1] if heads[1] > 0 else math.nan)
            print(f"{name} seed {seed}: held-out {finals[-1]:.4f} bits/char, "
                  f"{speed:.0f} tok/s", flush=True)
        mean_curve = {s: statistics.mean(c[s] for c in curves)
                      for s in curves[0]}
        results.append(dict(name=name, params=params, macs=macs,
                            curve=mean_curve, finals=finals, speeds=speeds,
                            usage=statistics.mean(usage)))
    if args.quick:
        # The plumbing of resuming: the first model, seed 1, trained in two
        # halves through its checkpoint, ends where the straight run did.
        name, _ = config["models"][0]
        library = os.path.join(args.work, slug(name) + ".so")
        train(args.bin, args.work, config, library, name, 1, args.corpus,
              steps=config["steps"] // 2, tag="-halves")
        halves = train(args.bin, args.work, config, library, name, 1,
                       args.corpus, tag="-halves")
        straight = open(os.path.join(
            args.work, f"{slug(name)}-seed1.log")).read()
        final = r"final loss ([\d.]+)"
        same = re.findall(final, halves)[-1] == \
            re.findall(final, straight)[-1] and \
            parse(halves)[0][config["steps"]] == results[0]["finals"][0]
        print(f"resumed run equals the straight run: {same}")
    table = summarise(results, config, time.time() - start)
    print(table)
    with open(os.path.join(args.work, "table.md"), "w") as f:
        f.write(table + "\n")
    svg(results, os.path.join(args.work, "fidelity.svg"),
        "held-out bits/char of the King James Bible (mean over seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
