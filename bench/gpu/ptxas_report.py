#!/usr/bin/env python3
"""Registers, spills and shared memory of the moa kernels, per GPU.

Compiles each model with `moa-compile --target=cuda --emit=ptx`, assembles
the PTX with the CUDA toolkit's `ptxas -v` for each chip and prints one row
per kernel. Fails if ptxas fails, or if a kernel spills more than
--max-spill bytes (stores or loads) when that is given.

usage: ptxas_report.py MOA_COMPILE MODEL.mlir... [--chips sm_90a,sm_80]
                       [--max-spill BYTES]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def ptxas_path():
    found = shutil.which("ptxas")
    if found:
        return found
    cuda = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    return os.path.join(cuda, "bin", "ptxas")


def report(compiler, model, chip, ptxas):
    with tempfile.TemporaryDirectory() as tmp:
        ptx = os.path.join(tmp, "kernels.ptx")
        subprocess.run([compiler, model, "--target=cuda", "--cuda-chip=" + chip,
                        "--emit=ptx", "-o", ptx], check=True)
        out = subprocess.run([ptxas, "-arch=" + chip, "-v", ptx, "-o",
                              os.path.join(tmp, "kernels.cubin")],
                             check=True, capture_output=True, text=True).stderr
    rows, kernel = [], None
    for line in out.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            kernel = {"name": m.group(1), "stores": 0, "loads": 0, "smem": 0}
            rows.append(kernel)
            continue
        if kernel is None:
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            kernel["stores"], kernel["loads"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            kernel["registers"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            kernel["smem"] = int(m.group(1))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("compiler")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--chips", default="sm_90a,sm_80")
    parser.add_argument("--max-spill", type=int)
    args = parser.parse_args()
    over = []
    ptxas = ptxas_path()
    print(f"{'model':<24} {'chip':<7} {'kernel':<28} {'regs':>5} "
          f"{'spill st':>9} {'spill ld':>9} {'smem':>6}")
    for model in args.models:
        for chip in args.chips.split(","):
            for row in report(args.compiler, model, chip, ptxas):
                if args.max_spill is not None and \
                        max(row["stores"], row["loads"]) > args.max_spill:
                    over.append(f"{os.path.basename(model)} {chip} "
                                f"{row['name']}")
                print(f"{os.path.basename(model):<24} {chip:<7} "
                      f"{row['name']:<28} {row.get('registers', 0):>5} "
                      f"{row['stores']:>9} {row['loads']:>9} {row['smem']:>6}")
    for kernel in over:
        print(f"spills more than {args.max_spill} bytes: {kernel}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
