"""dtype conversions (float(), double(), long(), int(), bool(), to(dtype), type(dtype)), clone
and contiguous. Conversions to float types carry gradients; to integer and bool types they
leave the graph (a gradient cannot be rounded)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._promotion import BOOL, FLOAT32, FLOAT64, INT64

DTYPES = {"float32": FLOAT32, "float64": FLOAT64, "int64": INT64, "bool": BOOL}
_ALIASES = {"float": FLOAT32, "double": FLOAT64, "long": INT64}


class Cast(Function):
    saves_inputs = False

    def forward(self, a, dtype):
        self.input_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, grad_output):
        return grad_output.astype(self.input_dtype), None


class Clone(Function):
    saves_inputs = False

    def forward(self, a):
        return np.array(a, copy=True, order="C")

    def backward(self, grad_output):
        return (grad_output,)


def dtype_argument(dtype, where: str) -> np.dtype:
    """One of minidl's dtypes from a NumPy dtype, a NumPy type or a name."""
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        converted = np.dtype(dtype)
    except TypeError:
        converted = None
    if converted is None or converted.name not in DTYPES:
        shown = converted.name if converted is not None else repr(dtype)
        raise TypeError(f"{where}: expected a dtype of float32, float64, int64 or bool, got "
                        f"{shown}")
    return converted


def cast(a: Tensor, dtype) -> Tensor:
    dtype = dtype_argument(dtype, "to(dtype)")
    if dtype == a.dtype:
        return a  # as PyTorch's .to(): the same tensor when nothing changes
    if dtype.kind != "f":
        return Tensor._wrap(a.data.astype(dtype))  # no gradient through a rounding
    return Cast.apply(a, dtype)


def clone(a: Tensor) -> Tensor:
    return Clone.apply(a)


def contiguous(a: Tensor) -> Tensor:
    return a if a.data.flags.c_contiguous else clone(a)
