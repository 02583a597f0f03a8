"""PyTorch's type promotion for minidl's dtypes (bool, int64, float32, float64), and the check
that turns an operand (a Tensor or a Python number) into something an op can take.

PyTorch's rule: the result has the highest category (bool < integer < floating point) among
the operands; inside that category the widest dtype of a tensor with dimensions wins, then of
a zero-dimensional tensor; a Python number only decides the category, in the default dtype
(float32 for floats, int64 for ints). So float32 * 2.5 stays float32, float32 + float64
tensors give float64, int64 * 0.5 gives float32. (NumPy differs: int64 * 0.5 is float64.)
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor

FLOAT32, FLOAT64, INT64, BOOL = (np.dtype(np.float32), np.dtype(np.float64),
                                 np.dtype(np.int64), np.dtype(np.bool_))
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
_DEFAULT_DTYPE = {0: BOOL, 1: INT64, 2: FLOAT32}


def check_operand(value, op: str):
    """`value` if it is a Tensor or a real number (bools included), else a TypeError."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{op}: expected a Tensor or a number, got {type(value).__name__}"
                    + ("; wrap an array with minidl.tensor(array)"
                       if isinstance(value, np.ndarray) else ""))


def category(dtype_or_number) -> int:
    if isinstance(dtype_or_number, np.dtype):
        return _CATEGORY[dtype_or_number.kind]
    if isinstance(dtype_or_number, (bool, np.bool_)):
        return 0
    return 1 if isinstance(dtype_or_number, numbers.Integral) else 2


def result_dtype(*operands) -> np.dtype:
    """The dtype of an elementwise op on `operands` (Tensors and numbers), as PyTorch's."""
    tensors = [x for x in operands if isinstance(x, Tensor)]
    top = max(category(x.dtype if isinstance(x, Tensor) else x) for x in operands)
    for group in ([t for t in tensors if t.ndim], [t for t in tensors if not t.ndim]):
        dtypes = [t.dtype for t in group if category(t.dtype) == top]
        if dtypes:
            return np.result_type(*dtypes)
    return _DEFAULT_DTYPE[top]


def floating(dtype: np.dtype) -> np.dtype:
    """`dtype` if it is a float, else float32 (PyTorch's default dtype): exp, /, mean..."""
    return dtype if dtype.kind == "f" else FLOAT32


def as_array(operand, dtype: np.dtype):
    """A Tensor's array or a number, in `dtype`, for an op's forward (which gets arrays)."""
    if isinstance(operand, np.ndarray):
        return operand.astype(dtype, copy=False)
    return dtype.type(operand)
