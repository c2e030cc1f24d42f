"""ctypes declarations of the runtime's C interface (runtime/moa_runtime.h)."""
import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_void_p

from . import _locate

lib = ctypes.CDLL(_locate.runtime_library())

_module_p = c_void_p
_tensor_p = c_void_p
_stats_p = c_void_p

_PROTOTYPES = {
    "moa_last_error": (c_char_p, []),
    "moa_module_load": (_module_p, [c_char_p]),
    "moa_module_destroy": (None, [_module_p]),
    "moa_module_manifest": (c_char_p, [_module_p]),
    "moa_tensor_create": (_tensor_p, [c_int, POINTER(c_int64), c_size_t]),
    "moa_tensor_wrap": (_tensor_p,
                        [c_int, POINTER(c_int64), c_size_t, c_void_p]),
    "moa_tensor_destroy": (None, [_tensor_p]),
    "moa_tensor_data": (c_void_p, [_tensor_p]),
    "moa_tensor_dtype": (c_int, [_tensor_p]),
    "moa_tensor_rank": (c_size_t, [_tensor_p]),
    "moa_tensor_shape": (POINTER(c_int64), [_tensor_p]),
    "moa_run_stats_create": (_stats_p, []),
    "moa_run_stats_destroy": (None, [_stats_p]),
    "moa_run_stats_num_routes": (c_size_t, [_stats_p]),
    "moa_run_stats_num_experts": (c_size_t, [_stats_p, c_size_t]),
    "moa_run_stats_expert_counts": (POINTER(c_int64), [_stats_p, c_size_t]),
    "moa_run_stats_num_arguments": (c_size_t, [_stats_p]),
    "moa_run_stats_argument_data": (c_void_p, [_stats_p, c_size_t]),
    "moa_module_run_with_stats": (
        c_int, [_module_p, c_char_p, POINTER(_tensor_p), c_size_t,
                POINTER(_tensor_p), c_size_t, POINTER(c_size_t), _stats_p]),
}

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes

# moa_dtype
F32, F16, BF16, I32, I1 = range(5)
DTYPE_NAMES = {"f32": F32, "f16": F16, "bf16": BF16, "i32": I32, "i1": I1}


def last_error():
    return lib.moa_last_error().decode("utf-8", "replace")


def shape_array(shape):
    return (c_int64 * max(len(shape), 1))(*shape)
