"""Where the moa tools and libMoARuntime.so are.

Looked up in order: $MOA_HOME (a build directory or an install prefix, with
bin/ and lib/), the prefix recorded at install time (_prefix.py, written by
`pip install ./python` or `cmake --install`), and the build directory of the
source tree this package sits in ($MOA_BUILD, else <repo>/build)."""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    if os.environ.get("MOA_HOME"):
        yield os.environ["MOA_HOME"]
    try:
        from ._prefix import PREFIX
        yield PREFIX
    except ImportError:
        pass
    repo = os.path.dirname(os.path.dirname(_HERE))
    yield os.environ.get("MOA_BUILD", os.path.join(repo, "build"))


def prefix():
    """The first candidate directory that holds lib/libMoARuntime.so."""
    tried = []
    for candidate in _candidates():
        if os.path.isfile(os.path.join(candidate, "lib", "libMoARuntime.so")):
            return candidate
        tried.append(candidate)
    raise ImportError(
        "moa: cannot find lib/libMoARuntime.so under any of " +
        ", ".join(repr(t) for t in tried) +
        "; build moa (scripts/test.sh) or set MOA_HOME to its build or "
        "install directory")


def runtime_library():
    return os.path.join(prefix(), "lib", "libMoARuntime.so")


def tool(name):
    path = os.path.join(prefix(), "bin", name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"moa: no {name} at {path}")
    return path
