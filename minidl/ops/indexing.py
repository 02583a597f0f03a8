"""x[key] and x[key] = value: ints, slices, None, ..., integer arrays (lists, ranges, int64 tensors) and boolean
masks, as NumPy and PyTorch index. The gradient is scattered back with np.add.at, so an index
that picks the same element twice (x[[0, 0]]) gives it both gradients."""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._broadcast import sum_to_shape
from ._promotion import category, check_operand, result_dtype
from .shape import share_version


class Index(Node):
    saves_inputs = False

    def forward(self, a, key):
        self.input_shape, self.key = a.shape, key
        return a[key]

    def backward(self, grad_output):
        grad_input = np.zeros(self.input_shape, dtype=grad_output.dtype)
        if _has_arrays(self.key):
            # an index array may name an element twice (x[[0, 0]]): each use adds its share
            np.add.at(grad_input, self.key, grad_output)
        else:
            # ints and slices name each element at most once: plain assignment (~40x faster)
            grad_input[self.key] = grad_output
        return grad_input, None


def _has_arrays(key) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(part, np.ndarray) for part in parts)


def index(a: Tensor, key) -> Tensor:
    key = index_key(key)
    _selected_shape(a.shape, key)
    result = Index.apply(a, key)
    # basic indexing (ints, slices) gives a view, which shares the version counter; an
    # integer array or a mask gives a copy (share_version tells them apart by their memory)
    return share_version(result, a)


def _selected_shape(shape: tuple, key) -> tuple:
    """The shape of x[key] for x of `shape`, from NumPy's own checks run on no data."""
    try:
        return np.empty(shape, dtype=np.bool_)[key].shape
    except IndexError as error:
        raise IndexError(f"indexing a tensor of shape {shape} with {_describe(key)}: "
                         f"{error}") from None


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


class IndexPut(Node):
    """a with a[key] replaced by value (broadcast to a[key]'s shape): x[key] = value."""

    saves_inputs = False

    def forward(self, a, value, key):
        self.key = key
        self.value_shape, self.value_dtype = np.shape(value), getattr(value, "dtype", None)
        result = a.copy()
        result[key] = value
        return result

    def backward(self, grad_output):
        grad_a = grad_value = None
        if self.needs_input_grad[0]:
            grad_a = grad_output.copy()
            grad_a[self.key] = 0  # the overwritten elements had no say in the result
        if self.needs_input_grad[1]:
            grad_value = sum_to_shape(grad_output[self.key], self.value_shape, self.value_dtype)
        return grad_a, grad_value, None, None


def index_put_(a: Tensor, key, value) -> Tensor:
    """x[key] = value, in place (see ops/inplace.py), value a Tensor or a number."""
    from .inplace import apply_inplace
    key = index_key(key)
    value = check_operand(value, "x[key] = value")
    target_shape = _selected_shape(a.shape, key)
    value_shape = np.shape(value.data if isinstance(value, Tensor) else value)
    if not _broadcasts(target_shape, value_shape) \
            or np.broadcast_shapes(target_shape, value_shape) != target_shape:
        raise ValueError(f"x[key] = value: a value of shape {value_shape} does not fit the "
                         f"{target_shape} elements selected from a tensor of shape {a.shape}")
    if category(result_dtype(value)) > category(a.dtype):
        raise TypeError(f"x[key] = value: a {result_dtype(value)} value cannot be stored in a "
                        f"{a.dtype} tensor")
    return apply_inplace(a, "x[key] = value",
                         lambda t: IndexPut.apply(t, value, key))


def _broadcasts(*shapes) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True
