"""Broadcasting, solved once (MiniTorch's idea): the shape two operands broadcast to, and the
one place where a gradient is summed back to the shape of the input it belongs to.

NumPy's rule (PyTorch's too): align shapes on the right; each pair of sizes must be equal or
one of them 1; a missing leading dimension counts as 1.
"""
from __future__ import annotations

import numpy as np


def broadcast_shape(*shapes: tuple, op: str) -> tuple:
    """The shape `shapes` broadcast to, or a ValueError naming `op` and the shapes."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        shown = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {shown} do not broadcast (sizes must be equal or 1 "
                         f"in each dimension, aligned from the right)") from None


def sum_to_shape(grad: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The gradient of an input of `shape` and `dtype` that was broadcast to grad.shape:
    summed over the dimensions broadcasting added (the leading ones) or stretched (size 1)."""
    added = grad.ndim - len(shape)
    if added:
        grad = grad.sum(axis=tuple(range(added)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.astype(dtype, copy=False)
