"""PyTorch's dtype objects: `minidl.float32` is NumPy's float32 dtype, so it works wherever a
dtype is taken (constructors, `Tensor.to`, layers' `dtype=`) and `x.dtype == minidl.float32`.

A tensor holds one of four dtypes: float32, float64, int64 (minidl's only integer dtype, for
class targets and indices) and bool (comparisons, masks). `minidl.int32` exists so that code
naming it reads the same as PyTorch, but no int32 tensor can be made: every constructor and
cast given it raises a TypeError instead of storing int64 under a name that says int32.
"""
from __future__ import annotations

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool_ = np.dtype(np.bool_)
double, long = float64, int64
# minidl.float and minidl.bool: PyTorch's names (exported as such; here they would hide builtins)
PYTORCH_NAMES = {"float32": float32, "float": float32, "float64": float64, "double": float64,
                 "int64": int64, "long": int64, "int32": int32, "bool": bool_}

TENSOR_DTYPES = {dtype.name: dtype for dtype in (float32, float64, int64, bool_)}
FLOATING = (float32, float64)
# spellings where PyTorch and NumPy disagree: np.dtype("float") is float64, torch.float float32
_NAMES = {"float": float32, "double": float64, "long": int64}
# the common arguments (minidl.float32, np.float32) looked up directly: np.dtype's .name,
# which the general path reads, costs microseconds, and .to(dtype) runs once per batch
_CANONICAL = {**{dtype: dtype for dtype in TENSOR_DTYPES.values()},
              **{dtype.type: dtype for dtype in TENSOR_DTYPES.values()}}


def dtype_argument(dtype, where: str) -> np.dtype:
    """One of minidl's tensor dtypes, as NumPy's canonical object, from a minidl/NumPy dtype,
    a NumPy type (np.float32), a Python type (float is float64, int int64, bool bool, as in
    PyTorch) or a name ("float32", "float", "long"). Anything else is a TypeError naming
    `where`; int32 and other dtypes minidl has no tensors of are refused, never replaced."""
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    if isinstance(dtype, np.dtype) or isinstance(dtype, type):
        canonical = _CANONICAL.get(dtype)
        if canonical is not None:
            return canonical
    resolved = None
    # only dtypes, types and names: np.dtype() would also take any object's .dtype attribute
    if isinstance(dtype, (np.dtype, type, str)):
        try:
            resolved = np.dtype(dtype)
        except (TypeError, ValueError):  # not a dtype at all
            pass
    if resolved is not None and resolved.isnative and resolved.name in TENSOR_DTYPES:
        return TENSOR_DTYPES[resolved.name]
    raise TypeError(f"{where}: expected a dtype of float32, float64, int64 or bool, got "
                    f"{_describe(dtype, resolved)}")


def _describe(dtype, resolved) -> str:
    if resolved is None:  # a name or type NumPy does not know, or not a dtype at all
        if isinstance(dtype, (str, type)):
            return repr(dtype)
        return f"an object of type {type(dtype).__name__}"
    if not resolved.isnative:
        return f"{resolved.name} in non-native byte order ({resolved.str!r})"
    if resolved.kind in "iu":
        return (f"{resolved.name} (minidl's integer tensors are int64: use minidl.int64, "
                f"also called minidl.long)")
    return resolved.name


def convert_exactly(array: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """`array` in `dtype` (itself when it already is), or a ValueError naming `where` if a
    value would change: 1.5 or NaN as an integer, 2 as a bool, 2**53 + 1 as float64, 1e40 as
    float32. Floats may round to the nearest value of a narrower float (that is float
    arithmetic, and what torch.tensor(..., dtype=torch.float32) does), never overflow."""
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(dtype)
        if dtype.kind == "f" and array.dtype.kind == "f":
            changed = np.isinf(converted) & ~np.isinf(array)
        else:  # a value survives the round trip exactly or it was changed
            changed = converted.astype(array.dtype) != array
    if changed.any():
        first = array[changed][0].item()
        raise ValueError(f"{where}: {int(changed.sum())} value(s) cannot be stored exactly as "
                         f"{dtype} (the first: {first!r}); nothing is rounded or truncated "
                         f"silently: convert them first, or keep a dtype that holds them")
    return converted
