"""moa.compile: MLIR to a loaded module, through moa-compile, cached on disk
by content."""
import hashlib
import os
import subprocess
import tempfile

from . import _locate
from ._runtime import MoAError, Module

_TARGETS = ("cpu", "cuda")


def cache_dir():
    """$MOA_CACHE_DIR, else $XDG_CACHE_HOME/moa or ~/.cache/moa."""
    if os.environ.get("MOA_CACHE_DIR"):
        return os.environ["MOA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME",
                          os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(base, "moa")


def _source_text(source):
    """(text, name) of a path or of MLIR text."""
    if isinstance(source, os.PathLike) or (
            isinstance(source, str) and "\n" not in source and
            not source.lstrip().startswith(("func.", "module", "//")) and
            os.path.exists(source)):
        with open(source, encoding="utf-8") as f:
            return f.read(), os.path.basename(os.fspath(source))
    if not isinstance(source, str):
        raise TypeError("moa.compile takes a path or MLIR text, got " +
                        type(source).__name__)
    return source, None


def _identity(path):
    """Changes when the file is rebuilt."""
    info = os.stat(path)
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"


def compile(source, target="cpu", pre_pipeline=None, options=()):
    """Compiles MLIR (a path or the text itself) with moa-compile for
    `target` ("cpu" or "cuda"), running `pre_pipeline` (moa-opt's textual
    form, e.g. "moa-generate-gradients") first, and loads the library. The
    library is cached under cache_dir() by a hash of the text, the options
    and the compiler's build, so a second call with the same input only
    loads it. Compiler diagnostics raise MoAError."""
    if target not in _TARGETS:
        raise ValueError(f"moa.compile: target must be one of {_TARGETS}, "
                         f"got {target!r}")
    text, name = _source_text(source)
    compiler = _locate.tool("moa-compile")
    flags = [f"--target={target}"] + list(options)
    if pre_pipeline:
        flags.append(f"--pre-pipeline={pre_pipeline}")
    key = hashlib.sha256("\0".join(
        [text, *flags, _identity(compiler),
         _identity(_locate.runtime_library())]).encode()).hexdigest()[:32]
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    library = os.path.join(directory, key + ".so")
    if not os.path.exists(library):
        source = os.path.join(directory, key + (f"-{name}" if name else
                                                 ".mlir"))
        _build(compiler, text, source, flags, library)
    return Module(library)


def _build(compiler, text, source, flags, library):
    # The source is kept next to the library so that diagnostics name a file
    # the user can open; the library appears atomically (rename).
    with open(source, "w", encoding="utf-8") as f:
        f.write(text)
    fd, partial = tempfile.mkstemp(suffix=".so",
                                   dir=os.path.dirname(library))
    os.close(fd)
    try:
        result = subprocess.run([compiler, source, *flags, "-o", partial],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise MoAError(f"moa-compile failed on {source}:\n" +
                           (result.stderr or result.stdout).strip())
        os.replace(partial, library)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
