# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MOA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moa_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "corpus"]

config.substitutions.append(("%moa_src_root", config.moa_src_root))
# The interpreter running lit (Debian's python3, with python3-numpy and
# python3-torch from scripts/setup.sh), unless MOA_TEST_PYTHON names another
# (e.g. a virtual environment with a current PyTorch from PyPI).
import shutil
import subprocess
import sys
python = os.environ.get("MOA_TEST_PYTHON", sys.executable)
config.substitutions.append(("%python", python))
# The tests of python/moa's torch layer need PyTorch; those of its custom op
# under torch.compile need PyTorch 2.4 or later (torch.library.custom_op).
torch_probe = subprocess.run(
    [python, "-c", "import torch; print(hasattr(torch.library, 'custom_op'))"],
    capture_output=True, text=True)
if torch_probe.returncode == 0:
    config.available_features.add("torch")
    if torch_probe.stdout.strip() == "True":
        config.available_features.add("torch-custom-op")
config.substitutions.append(("%moa_obj_root", config.moa_obj_root))
config.substitutions.append(("%moa_lib", os.path.join(config.moa_obj_root, "lib")))
config.substitutions.append(("%moa_tools", config.moa_tools_dir))
# Debian's own mlir-opt, for the plugin test (not moa-opt).
config.substitutions.append(("%mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt")))
config.substitutions.append(("%mlir_dir", config.mlir_dir))
config.substitutions.append(("%cmake", config.cmake_command))

if config.moa_plugin:
    config.available_features.add("shared-mlir")

# A sanitizer build (MOA_SANITIZE): processes that are not ours (python3,
# Debian's mlir-opt) load instrumented moa libraries, so the sanitizer
# runtime is preloaded everywhere; any report fails the test.
if config.moa_sanitize:
    libraries = {"address": "libasan.so", "undefined": "libubsan.so"}
    config.environment["LD_PRELOAD"] = " ".join(
        os.path.realpath(subprocess.check_output(
            ["gcc", "-print-file-name=" + libraries[name]], text=True).strip())
        for name in config.moa_sanitize.split(",") if name in libraries)
    config.environment["ASAN_OPTIONS"] = (
        "detect_leaks=0:verify_asan_link_order=0:allocator_may_return_null=1:"
        # Debian's LLVM is not instrumented: the poisoning that LLVM's
        # allocators do in our (instrumented) inlined copies is not theirs.
        "allow_user_poisoning=0")
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    config.available_features.add("sanitize")

# Runs a command where allocations past 4 GB fail. Under AddressSanitizer,
# whose shadow memory needs far more address space, its allocator's own
# limit (1 TB, returning null) does that instead.
config.substitutions.append(
    ("%limit_memory", "" if config.moa_sanitize else
     sys.executable + " " + os.path.join(config.moa_src_root, "test", "lib",
                                         "limit.py") +
     " address-space 4000000000"))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    [ToolSubst("moa-opt", unresolved="fatal"),
     ToolSubst("moa-capi-test", unresolved="fatal"),
     ToolSubst("moa-compile", unresolved="fatal"),
     ToolSubst("moa-run", unresolved="fatal"),
     ToolSubst("moa-train", unresolved="fatal"),
     ToolSubst("moa-generate", unresolved="fatal"),
     ToolSubst("moa-layer-test", unresolved="fatal"),
     ToolSubst("moa-primitives-test", unresolved="fatal"),
     ToolSubst("moa-gradient-test", unresolved="fatal"),
     ToolSubst("moa-decode-test", unresolved="fatal"),
     ToolSubst("moa-reference-grad-test", unresolved="fatal"),
     ToolSubst("moa-runtime-test", unresolved="fatal"),
     ToolSubst("moa-runtime-capi-test", unresolved="fatal"),
     ToolSubst("moa-device-test", unresolved="fatal"),
     ToolSubst("moa-safetensors-test", unresolved="fatal"),
     ToolSubst("moa-gemm-test", unresolved="fatal"),
     ToolSubst("moa-mgpu-abi-test", unresolved="fatal"),
     ToolSubst("moa-mgpu-abi-mock-test", unresolved="fatal")],
    [config.moa_tools_dir]
)

# The consumer project under Install/ is built by its test, not discovered.
config.excludes.append("consumer")
config.excludes.append("FakeDriver")
config.excludes.append("ABI")

# The fidelity benchmark's corpus is Debian's bible-kjv (scripts/test.sh
# installs it).
if shutil.which("bible"):
    config.available_features.add("bible-kjv")

# Data-parallel training runs under Open MPI's mpirun (scripts/setup.sh
# installs openmpi-bin); as root it must be allowed to, and two ranks share
# this machine's cores.
if shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.substitutions.append(
        ("%mpirun", "mpirun --allow-run-as-root --oversubscribe"))

# GPU tests: compiling needs the CUDA toolkit's ptxas; running for real needs
# a driver and a device.
import ctypes

cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
if shutil.which("ptxas") or os.path.exists(os.path.join(cuda_home, "bin", "ptxas")):
    config.available_features.add("cuda-toolkit")
    config.environment["CUDA_HOME"] = cuda_home
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-device")
except OSError:
    pass
