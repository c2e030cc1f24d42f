"""Data-parallel training on the CPU: step time of one process and of two
MPI ranks (moa-data-parallel), the all-reduce's share of the step, and the
all-reduce against the collective a PyTorch user would use (gloo, as
DistributedDataParallel on the CPU), all in one run.

Model: examples/lm/make_lm.py's MoA language model, trained by moa-train on
the copy task with its load-balancing loss. Per-step times are measured
without warm-up: (time of S + 10 steps - time of 10 steps) / S, each from
moa-train's own report. The all-reduce is timed alone on a bucket of the
step's size (the same MPI_Allreduce path: shard.all_reduce compiled by
moa-compile, run by moa-run --repeat under mpirun), and with
torch.distributed.all_reduce (gloo) on the same number of floats.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def run(cmd, env=None):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def environment(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def train_seconds(args, module, steps, ranks, threads):
    """moa-train's wall time for `steps` steps and its final loss."""
    cmd = [os.path.join(args.bin, "moa-train"), module, "--steps", str(steps),
           "--batch", str(args.batch), "--length", str(args.length),
           "--symbols", "40", "--eval-batches", "0", "--log-every", "1000000"]
    if ranks > 1:
        cmd = MPIRUN + ["-np", str(ranks)] + cmd
    text = run(cmd, environment(threads))
    m = re.search(r"in ([0-9.]+) s \(.*final loss ([0-9.]+)", text)
    return float(m.group(1)), float(m.group(2))


def step_ms(args, module, ranks, threads):
    short, _ = train_seconds(args, module, 10, ranks, threads)
    long_, loss = train_seconds(args, module, 10 + args.steps, ranks, threads)
    return 1e3 * (long_ - short) / args.steps, loss


def bucket_size(args, model):
    """The number of floats the step's one bucketed all-reduce carries."""
    ir = run([os.path.join(args.bin, "moa-opt"), model,
              "--moa-generate-train-step", "--moa-data-parallel"])
    sizes = [int(n) for n in re.findall(r"shard.all_reduce .*: tensor<(\d+)xf32>", ir)]
    return max(sizes)


def moa_allreduce_ms(args, work, n):
    path = os.path.join(work, "allreduce.mlir")
    with open(path, "w") as f:
        f.write(f"""module attributes {{dlti.map = #dlti.map<"MPI:Implementation" = "OpenMPI">, moa.ranks = 2 : i64}} {{
  shard.grid @moa_data(shape = 2)
  func.func @allreduce(%x: tensor<{n}xf32>) -> tensor<{n}xf32> {{
    %0 = shard.all_reduce %x on @moa_data grid_axes = [0] : tensor<{n}xf32> -> tensor<{n}xf32>
    return %0 : tensor<{n}xf32>
  }}
}}
""")
    lib = os.path.join(work, "allreduce.so")
    run([os.path.join(args.bin, "moa-compile"), path, "-o", lib])
    text = run(MPIRUN + ["-np", "2", os.path.join(args.bin, "moa-run"), lib, "allreduce",
                         "--random", "--repeat", "200"], environment(1))
    return max(float(t) for t in re.findall(r"time: ([0-9.]+) ms", text))


def torch_allreduce_ms(n):
    """torch.distributed.all_reduce (gloo) of n floats over 2 processes."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "allreduce_torch.py"), str(n)],
                         capture_output=True, text=True, env=environment(1))
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return float(out.stdout.split()[0]), None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="moa-dp-")
    model = os.path.join(work, "lm.mlir")
    with open(model, "w") as f:
        f.write(run([sys.executable, os.path.join(ROOT, "examples/lm/make_lm.py"),
                     "--attention", "moa", "--layers", str(args.layers), "--d", str(args.d),
                     "--ffn", str(4 * args.d), "--vocab", "64", "--context", str(args.length),
                     "--experts", "8", "--top-k", "2", "--head-dim", str(args.d // 4)]))
    step = "moa-generate-train-step{lr=1e-3 warmup-steps=10}"
    one, two = os.path.join(work, "one.so"), os.path.join(work, "two.so")
    run([os.path.join(args.bin, "moa-compile"), model, "-o", one, f"--pre-pipeline={step}"])
    run([os.path.join(args.bin, "moa-compile"), model, "-o", two,
         f"--pre-pipeline={step},moa-data-parallel{{axis-size=2}}"])

    print(f"model: {args.layers} layers, d={args.d}, MoA E=8 k=2, global batch {args.batch} x "
          f"{args.length} tokens, copy task; per-step times over {args.steps} steps after 10")
    rows = [("1 process x 1 thread", one, 1, 1), ("1 process x 2 threads", one, 1, 2),
            ("2 ranks x 1 thread", two, 2, 1)]
    results = {}
    print(f"| {'configuration':24} | ms/step | tokens/s | final loss |")
    print(f"|{'-' * 26}|---------|----------|------------|")
    for name, module, ranks, threads in rows:
        ms, loss = step_ms(args, module, ranks, threads)
        results[name] = (ms, loss)
        tokens = args.batch * args.length / (ms / 1e3)
        print(f"| {name:24} | {ms:7.2f} | {tokens:8.0f} | {loss:10.6f} |")
    reference = results["1 process x 2 threads"][1]
    agree = abs(results["2 ranks x 1 thread"][1] - reference) / abs(reference)
    print(f"final loss, 2 ranks against one process: relative difference {agree:.1e}")
    n = bucket_size(args, model)
    ours = moa_allreduce_ms(args, work, n)
    share = ours / results["2 ranks x 1 thread"][0]
    print(f"all-reduce of the step's bucket ({n} floats, {4 * n / 1e6:.2f} MB), 2 ranks: "
          f"moa (MPI_Allreduce, Open MPI) {ours:.3f} ms = {100 * share:.1f}% of the 2-rank step")
    theirs, why = torch_allreduce_ms(n)
    if theirs is None:
        print(f"PyTorch gloo all_reduce: not measured ({why})")
    else:
        print(f"PyTorch gloo all_reduce of the same floats: {theirs:.3f} ms "
              f"(moa/PyTorch time ratio {ours / theirs:.2f})")


if __name__ == "__main__":
    main()
