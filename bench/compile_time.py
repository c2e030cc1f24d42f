#!/usr/bin/python3
"""Compile time and peak memory of moa-compile against model depth.

Writes a model of N stacked causal MoA layers (d=64, E=4, k=2, h=16, each
with its own weights, B and T dynamic) ending in a cross-entropy loss, and
compiles it with `moa-compile --pre-pipeline=moa-generate-gradients` (the
forward and the backward of every layer), for each N given. Prints wall
time, peak resident memory of the compiler (from wait4) and the time per
layer, which must stay flat for compile time to be linear in depth.

  bench/compile_time.py --bin build/bin --layers 10 50 100
"""
import argparse
import os
import subprocess
import tempfile
import time

LAYER_TYPES = ("tensor<?x?x64xf32>, tensor<64x4xf32>, tensor<4x64x16xf32>, "
               "tensor<64x16xf32>, tensor<64x16xf32>, tensor<4x16x64xf32>")


def model(layers):
    weights = []
    for i in range(layers):
        weights += [f"%wg{i}: tensor<64x4xf32>", f"%wq{i}: tensor<4x64x16xf32>",
                    f"%wk{i}: tensor<64x16xf32>", f"%wv{i}: tensor<64x16xf32>",
                    f"%wo{i}: tensor<4x16x64xf32>"]
    lines = ["func.func @loss(%x: tensor<?x?x64xf32>, %t: tensor<?x?xi32>, " +
             ", ".join(weights) + ") -> tensor<f32> {"]
    value = "%x"
    for i in range(layers):
        lines.append(f"  %y{i}, %l{i} = moa.mixture_attention {value}, %wg{i}, "
                     f"%wq{i}, %wk{i}, %wv{i}, %wo{i} k(2) {{causal}} : "
                     + LAYER_TYPES)
        value = f"%y{i}"
    lines.append(f"  %s = moa.cross_entropy {value}, %t : "
                 "tensor<?x?x64xf32>, tensor<?x?xi32>")
    lines.append("  return %s : tensor<f32>\n}\n")
    return "\n".join(lines)


def compile_once(compiler, source, output):
    start = time.perf_counter()
    process = subprocess.Popen(
        [compiler, source, "-o", output,
         "--pre-pipeline=moa-generate-gradients"])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"moa-compile failed on {source}")
    return elapsed, usage.ru_maxrss / 1024  # MiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin")
    parser.add_argument("--layers", type=int, nargs="+", default=[10, 50, 100])
    args = parser.parse_args()
    compiler = os.path.join(args.bin, "moa-compile")
    print("| layers | compile s | peak MiB | s per layer |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for layers in args.layers:
            source = os.path.join(work, f"stack{layers}.mlir")
            with open(source, "w") as f:
                f.write(model(layers))
            seconds, peak = compile_once(
                compiler, source, os.path.join(work, f"stack{layers}.so"))
            print(f"| {layers} | {seconds:.1f} | {peak:.0f} | "
                  f"{seconds / layers:.2f} |", flush=True)


if __name__ == "__main__":
    main()
