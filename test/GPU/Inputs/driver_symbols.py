#!/usr/bin/env python3
"""Prints the driver entry points MgpuCuda.cpp binds that the toolkit's
libcuda stub does not export (see driver-symbols.mlir)."""
import os
import re
import subprocess
import sys

names = re.findall(r'bind\(library,\s*d->\w+,\s*"(\w+)"\)', open(sys.argv[1]).read())
stub = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "lib64", "stubs", "libcuda.so")
exported = set(line.split()[-1] for line in subprocess.run(
    ["nm", "-D", "--defined-only", stub], capture_output=True, text=True, check=True).stdout.splitlines())
for name in names:
    if name not in exported:
        print("missing", name)
print(f"{len(names)} driver entry points, all in libcuda" if all(n in exported for n in names) else "")
