"""moa from Python: compile MLIR that uses the moa dialect, load the
library, and call its entry points on NumPy arrays or torch tensors (read in
place where contiguous). The layer for PyTorch models is in moa.torch.

    import moa
    module = moa.compile("examples/moa_layer.mlir")
    (y,) = module.moa_layer(x, w_gate, w_query, w_key, w_value, w_out)
"""
from ._compiler import cache_dir, compile
from ._runtime import Entry, Module, MoAError, RunStats, TensorSpec, load

__all__ = ["compile", "load", "cache_dir", "Module", "MoAError", "Entry",
           "TensorSpec", "RunStats"]
