"""`pip install ./python` after building moa: the installed package records
the build it belongs to (moa/_prefix.py), where it finds moa-compile and
libMoARuntime.so. $MOA_HOME names another build or install prefix; by
default it is ../build (or $MOA_BUILD)."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def moa_prefix():
    prefix = os.environ.get("MOA_HOME") or os.environ.get(
        "MOA_BUILD", os.path.join(os.path.dirname(HERE), "build"))
    prefix = os.path.abspath(prefix)
    if not os.path.isfile(os.path.join(prefix, "lib", "libMoARuntime.so")):
        raise SystemExit(f"moa: no lib/libMoARuntime.so under {prefix}: "
                         "build moa first (scripts/test.sh), or set "
                         "MOA_HOME to its build or install directory")
    return prefix


class BuildWithPrefix(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "moa", "_prefix.py")
        with open(target, "w", encoding="utf-8") as f:
            f.write(f"PREFIX = {moa_prefix()!r}\n")


setup(cmdclass={"build_py": BuildWithPrefix})
