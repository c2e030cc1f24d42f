"""Loading and calling compiled moa modules from Python (over _capi)."""
import ctypes
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from . import _capi
from ._capi import lib


class MoAError(RuntimeError):
    """An error reported by the moa runtime or compiler (its message)."""


@dataclass(frozen=True)
class TensorSpec:
    dtype: str                          # "f32", "f16", "bf16", "i32", "i1"
    shape: Tuple[Optional[int], ...]    # None for a dynamic size
    name: str = ""
    tied: Optional[int] = None          # a result returned in that argument

    def __str__(self):
        sizes = "x".join("?" if s is None else str(s) for s in self.shape)
        return f"tensor<{sizes + 'x' if sizes else ''}{self.dtype}>"


@dataclass(frozen=True)
class Entry:
    name: str
    arguments: Tuple[TensorSpec, ...]
    results: Tuple[TensorSpec, ...]

    def __str__(self):
        args = ", ".join(str(a) for a in self.arguments)
        results = ", ".join(str(r) for r in self.results)
        return f"{self.name}({args}) -> ({results})"


def parse_manifest(text):
    """Entries of a manifest (runtime/Manifest.h's format), in order."""
    entries, current = {}, None
    for line in text.splitlines()[1:]:
        words = line.split()
        if not words:
            continue
        if words[0] == "entry":
            current = (words[1], [], [])
            entries[words[1]] = current
            continue
        rank = int(words[2])
        sizes = tuple(None if w == "?" else int(w) for w in words[3:3 + rank])
        extras = dict(w.split("=", 1) for w in words[3 + rank:])
        spec = TensorSpec(words[1], sizes, extras.get("name", ""),
                          int(extras["tied"]) if "tied" in extras else None)
        (current[1] if words[0] == "arg" else current[2]).append(spec)
    return {name: Entry(name, tuple(a), tuple(r))
            for name, (_, a, r) in entries.items()}


@dataclass
class RunStats:
    """What the last call observed."""
    # Per moa.route executed: (token, slot) pairs routed to each expert.
    expert_counts: List[np.ndarray] = field(default_factory=list)
    # Per argument: the address the compiled code read it from.
    argument_addresses: List[int] = field(default_factory=list)
    # Arguments that were not contiguous and were copied once to be.
    copied_arguments: List[int] = field(default_factory=list)


_NUMPY_DTYPES = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16",
                 np.dtype(np.int32): "i32", np.dtype(np.bool_): "i1"}
_TYPESTR = {"f32": "<f4", "f16": "<f2", "bf16": "<u2", "i32": "<i4",
            "i1": "|b1"}


def _is_torch(value):
    return type(value).__module__.startswith("torch") and \
        hasattr(value, "data_ptr")


def _torch_dtype_name(tensor):
    import torch
    return {torch.float32: "f32", torch.float16: "f16",
            torch.bfloat16: "bf16", torch.int32: "i32",
            torch.bool: "i1"}.get(tensor.dtype)


class _Input:
    """One argument as the runtime sees it: a moa_tensor over the caller's
    bytes (or over a contiguous copy), kept alive for the call."""

    def __init__(self, value, spec, where):
        self.copied = False
        if _is_torch(value):
            if value.device.type != "cpu":
                raise MoAError(
                    f"{where} is a tensor on {value.device}; this module takes "
                    "host (CPU) tensors")
            tensor = value.detach()
            dtype = _torch_dtype_name(tensor)
            if not tensor.is_contiguous():
                tensor, self.copied = tensor.contiguous(), True
            self.owner, address = tensor, tensor.data_ptr()
            shape = tuple(tensor.shape)
            described = str(value.dtype).replace("torch.", "")
        else:
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
            dtype = _NUMPY_DTYPES.get(array.dtype)
            if array.dtype == np.uint16 and spec is not None and \
                    spec.dtype == "bf16":
                dtype = "bf16"  # bf16 bits, as NumPy has no bfloat16
            if not array.flags.c_contiguous:
                array, self.copied = np.ascontiguousarray(array), True
            self.owner = array
            address = array.__array_interface__["data"][0]
            shape = array.shape
            described = str(array.dtype)
        if dtype is None:
            expected = f" ({spec.dtype} expected)" if spec is not None else ""
            raise MoAError(f"{where} has dtype {described}, which moa does "
                           f"not take{expected}")
        if address == 0:  # an empty tensor may have no storage
            self.empty = ctypes.c_int64(0)
            address = ctypes.addressof(self.empty)
        self.handle = lib.moa_tensor_wrap(_capi.DTYPE_NAMES[dtype],
                                          _capi.shape_array(shape), len(shape),
                                          address)
        if not self.handle:
            raise MoAError(f"{where}: {_capi.last_error()}")

    def __del__(self):
        if getattr(self, "handle", None):
            lib.moa_tensor_destroy(self.handle)


class _Output:
    """A result tensor of the runtime, viewed by NumPy without a copy; the
    runtime's tensor is freed with the last view of it."""

    def __init__(self, handle):
        self.handle = handle
        rank = lib.moa_tensor_rank(handle)
        shape = tuple(lib.moa_tensor_shape(handle)[i] for i in range(rank))
        self.dtype = {v: k for k, v in _capi.DTYPE_NAMES.items()}[
            lib.moa_tensor_dtype(handle)]
        self.__array_interface__ = {
            "shape": shape, "typestr": _TYPESTR[self.dtype], "version": 3,
            "data": (lib.moa_tensor_data(handle), False)}

    def __del__(self):
        lib.moa_tensor_destroy(self.handle)


class Module:
    """A module compiled by moa-compile (a shared library), loaded."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._handle = lib.moa_module_load(self.path.encode())
        if not self._handle:
            raise MoAError(_capi.last_error())
        self.manifest = lib.moa_module_manifest(self._handle).decode()
        self.entries = parse_manifest(self.manifest)
        self.last_stats = RunStats()

    def __del__(self):
        if getattr(self, "_handle", None):
            lib.moa_module_destroy(self._handle)

    def __repr__(self):
        return f"<moa.Module {self.path!r}: " + \
            "; ".join(str(e) for e in self.entries.values()) + ">"

    def __getattr__(self, name):
        entries = self.__dict__.get("entries", {})
        if name in entries:
            return lambda *arrays: self(name, *arrays)
        raise AttributeError(f"moa module {self.path!r} has no entry {name!r} "
                             f"(entries: {', '.join(entries)})")

    @property
    def routing(self):
        """Per moa.route of the last call, the pairs routed to each expert."""
        return self.last_stats.expert_counts

    def __call__(self, entry, *arrays):
        """Runs `entry` on NumPy arrays or CPU torch tensors, read in place
        where contiguous; returns a tuple of results of the same kind (torch
        if any argument is a torch tensor)."""
        spec = self.entries.get(entry)
        inputs = []
        for i, value in enumerate(arrays):
            arg = spec.arguments[i] if spec and i < len(spec.arguments) else None
            inputs.append(_Input(value, arg, f"argument {i} of '{entry}'"))
        handles = (ctypes.c_void_p * max(len(inputs), 1))(
            *[x.handle for x in inputs])
        room = len(spec.results) if spec else 0
        outputs = (ctypes.c_void_p * max(room, 1))()
        count = ctypes.c_size_t(0)
        stats = lib.moa_run_stats_create()
        try:
            if not lib.moa_module_run_with_stats(
                    self._handle, entry.encode(), handles, len(inputs),
                    outputs, room, ctypes.byref(count), stats):
                raise MoAError(_capi.last_error())
            results = [np.asarray(_Output(outputs[i]))
                       for i in range(count.value)]
            self.last_stats = self._read_stats(stats, inputs)
        finally:
            lib.moa_run_stats_destroy(stats)
        if any(_is_torch(a) for a in arrays):
            results = [_to_torch(r, spec.results[i].dtype)
                       for i, r in enumerate(results)]
        return tuple(results)

    @staticmethod
    def _read_stats(stats, inputs):
        counts = []
        for route in range(lib.moa_run_stats_num_routes(stats)):
            n = lib.moa_run_stats_num_experts(stats, route)
            pointer = lib.moa_run_stats_expert_counts(stats, route)
            counts.append(np.array([pointer[e] for e in range(n)], np.int64))
        addresses = [lib.moa_run_stats_argument_data(stats, i) or 0
                     for i in range(lib.moa_run_stats_num_arguments(stats))]
        return RunStats(counts, addresses,
                        [i for i, x in enumerate(inputs) if x.copied])


def _to_torch(array, dtype):
    import torch
    if dtype == "bf16":  # older torch has no uint16: through int16
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def load(path):
    """Loads a compiled module (a .so from moa-compile or moa.compile)."""
    return Module(path)
