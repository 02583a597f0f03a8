"""x[key]: ints, slices, None, ..., integer arrays (lists, ranges, int64 tensors) and boolean
masks, as NumPy and PyTorch index. The gradient is scattered back with np.add.at, so an index
that picks the same element twice (x[[0, 0]]) gives it both gradients."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .shape import share_version


class Index(Function):
    saves_inputs = False

    def forward(self, a, key):
        self.input_shape, self.key = a.shape, key
        return a[key]

    def backward(self, grad_output):
        grad_input = np.zeros(self.input_shape, dtype=grad_output.dtype)
        np.add.at(grad_input, self.key, grad_output)
        return grad_input, None


def index(a: Tensor, key) -> Tensor:
    key = index_key(key)
    try:
        np.empty(a.shape, dtype=np.bool_)[key]  # NumPy's checks, on no data
    except IndexError as error:
        raise IndexError(f"indexing a tensor of shape {a.shape} with {_describe(key)}: "
                         f"{error}") from None
    result = Index.apply(a, key)
    # basic indexing (ints, slices) gives a view, which shares the version counter; an
    # integer array or a mask gives a copy
    return share_version(result, a) if result.data.base is not None else result


def index_key(key):
    """`key` with Tensors, ranges and lists made NumPy index arrays, each part checked."""
    parts = key if isinstance(key, tuple) else (key,)
    converted = tuple(_index_part(part) for part in parts)
    return converted if isinstance(key, tuple) else converted[0]


def _index_part(part):
    if part is None or part is Ellipsis or isinstance(part, slice):
        return part
    if isinstance(part, (bool, np.bool_)):
        return bool(part)
    if isinstance(part, (int, np.integer)):
        return int(part)
    if isinstance(part, Tensor):
        part = part.data
    elif isinstance(part, (range, list)):
        part = np.asarray(part, dtype=np.int64 if isinstance(part, range) or not part
                          else None)
    if isinstance(part, np.ndarray) and part.dtype.kind in "biu":
        return part
    what = f"an array of dtype {part.dtype}" if isinstance(part, np.ndarray) \
        else type(part).__name__
    raise IndexError(f"tensors used as indices must be int64 or bool tensors (or ints, "
                     f"slices, None, ..., lists and ranges of ints), got {what}")


def _describe(key) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "[" + ", ".join(f"array{p.shape}" if isinstance(p, np.ndarray) else repr(p)
                           for p in parts) + "]"
