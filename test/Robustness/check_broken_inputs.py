#!/usr/bin/env python3
"""Feeds moa-opt broken inputs and checks it never crashes.

usage: check_broken_inputs.py MOA_OPT INPUTS_DIR VALID_FILE... 

1. Every file in INPUTS_DIR is broken on purpose: moa-opt must exit with a
   non-zero status (not a signal) and print an 'error:' diagnostic with a
   file:line:col location.
2. Every VALID_FILE is truncated at many points and mutated at random
   (seeded): whatever the result, moa-opt must not crash, and when it fails it
   must say why in a located diagnostic.
Each input runs through parsing, verification, moa-decompose and moa-cost,
through the whole CPU pipeline (moa-cpu-pipeline), and through
moa-generate-gradients before it.
"""
import os
import random
import re
import subprocess
import sys
import tempfile

CRASH_MARKERS = ("PLEASE submit a bug report", "Stack dump", "Assertion")
LOCATED_ERROR = re.compile(r":\d+:\d+: error: ")


PIPELINES = (
    ["--moa-decompose", "--moa-cost"],
    # The whole CPU lowering down to the LLVM dialect.
    ["--moa-cpu-pipeline"],
    # Gradients of every public function, then the CPU lowering of both.
    ["--moa-generate-gradients", "--moa-cpu-pipeline"],
)


def run(moa_opt, path, flags):
    proc = subprocess.run(
        [moa_opt, path, *flags, "-o", os.devnull],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def problem(code, err, must_fail):
    if code < 0:
        return f"killed by signal {-code}"
    if any(marker in err for marker in CRASH_MARKERS):
        return "crashed (stack dump)"
    if must_fail and code == 0:
        return "accepted a broken input"
    if code != 0 and not LOCATED_ERROR.search(err):
        return "failed without a located 'error:' diagnostic"
    return None


def variants(text, rng):
    """Truncations at every 1/40th and random single-byte mutations."""
    n = len(text)
    for i in range(1, 40):
        yield f"truncated at {i * n // 40}", text[: i * n // 40]
    alphabet = b"(){}<>[]:,%@#!?x0123456789-. \n\"\xff"
    for i in range(40):
        data = bytearray(text)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(n)] = alphabet[rng.randrange(len(alphabet))]
        yield f"mutation {i}", bytes(data)


def main():
    moa_opt, inputs_dir, valid_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    failures, runs = [], 0
    for name in sorted(os.listdir(inputs_dir)):
        path = os.path.join(inputs_dir, name)
        for flags in PIPELINES:
            code, err = run(moa_opt, path, flags)
            runs += 1
            why = problem(code, err, must_fail=True)
            if why:
                failures.append(f"{name} ({' '.join(flags)}): {why}\n{err}")

    rng = random.Random(20221007)
    with tempfile.TemporaryDirectory() as tmp:
        for valid in valid_files:
            with open(valid, "rb") as f:
                text = f.read()
            for label, data in variants(text, rng):
                path = os.path.join(tmp, "input.mlir")
                with open(path, "wb") as f:
                    f.write(data)
                for flags in PIPELINES:
                    code, err = run(moa_opt, path, flags)
                    runs += 1
                    why = problem(code, err, must_fail=False)
                    if why:
                        failures.append(
                            f"{valid} ({label}, {' '.join(flags)}): {why}\n{err}")

    for failure in failures:
        print("FAIL:", failure)
    print(f"{runs} inputs, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
