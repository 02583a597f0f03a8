"""Shape ops: view/reshape, flatten, unsqueeze/squeeze, transpose/permute/t, expand, cat, stack.

The results that are views of their input's memory share its version counter (PyTorch's rule),
so an in-place change through either is seen by every backward that saved the other.
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._broadcast import sum_to_shape
from ._dims import normalize_dim
from ._promotion import result_dtype


def share_version(view: Tensor, base: Tensor) -> Tensor:
    """Give `view` the version counter of `base` if it shares base's memory."""
    if np.may_share_memory(view.data, base.data):
        view._version = base._version
        view._base = base if base._base is None else base._base
    return view


class Reshape(Node):
    saves_inputs = False

    def forward(self, a, shape):
        self.input_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad_output):
        return grad_output.reshape(self.input_shape), None


class Permute(Node):
    saves_inputs = False

    def forward(self, a, dims):
        self.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    def backward(self, grad_output):
        return grad_output.transpose(self.inverse), None


class Expand(Node):
    saves_inputs = False

    def forward(self, a, shape):
        self.input_shape, self.input_dtype = a.shape, a.dtype
        return np.broadcast_to(a, shape)  # read-only, as PyTorch's expand must not be written

    def backward(self, grad_output):
        return sum_to_shape(grad_output, self.input_shape, self.input_dtype), None


class Concatenate(Node):
    saves_inputs = False

    def forward(self, *arrays, dim, stack, dtype):
        self.dim, self.stack = dim, stack
        self.sizes = [1 if stack else a.shape[dim] for a in arrays]
        self.input_dtypes = [a.dtype for a in arrays]
        arrays = [a.astype(dtype, copy=False) for a in arrays]
        return np.stack(arrays, axis=dim) if stack else np.concatenate(arrays, axis=dim)

    def backward(self, grad_output):
        pieces = np.split(grad_output, np.cumsum(self.sizes)[:-1], axis=self.dim)
        if self.stack:
            pieces = [np.squeeze(piece, axis=self.dim) for piece in pieces]
        return tuple(piece.astype(dtype, copy=False)
                     for piece, dtype in zip(pieces, self.input_dtypes))


def _check_tensor(a, where: str) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(a).__name__}")


def shape_argument(shape: tuple, where: str) -> tuple:
    """reshape(2, 3) and reshape((2, 3)) both mean (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for size in shape:
        if not isinstance(size, (int, np.integer)) or isinstance(size, (bool, np.bool_)):
            raise TypeError(f"{where}: expected sizes as ints, got {shape!r}")
    return tuple(int(size) for size in shape)


def reshape(a: Tensor, shape) -> Tensor:
    _check_tensor(a, "reshape")
    try:
        shape = tuple(int(s) for s in shape)
        np.empty(a.shape, dtype=np.bool_).reshape(shape)  # validates without touching data
    except (TypeError, ValueError) as error:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({a.numel()} elements) into {tuple(shape)}") from error
    return share_version(Reshape.apply(a, shape), a)


def view_as(a: Tensor, other: Tensor) -> Tensor:
    _check_tensor(other, "view_as")
    return reshape(a, other.shape)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    _check_tensor(a, "flatten")
    if a.ndim == 0:
        return reshape(a, (1,))
    start = normalize_dim(start_dim, a.ndim, "flatten")
    end = normalize_dim(end_dim, a.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim "
                         f"({end_dim}) for a tensor of {a.ndim} dimensions")
    if start == end:
        return a  # nothing to merge: the tensor itself, as torch.flatten (no node, no cost)
    merged = int(np.prod(a.shape[start:end + 1]))
    # a shape made from a's own sizes: no need for reshape's checks
    return share_version(Reshape.apply(a, a.shape[:start] + (merged,) + a.shape[end + 1:]), a)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    _check_tensor(a, "unsqueeze")
    dim = normalize_dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim=None) -> Tensor:
    """Drop dimensions of size 1 (all of them, or `dim` if it has size 1), as torch.squeeze."""
    _check_tensor(a, "squeeze")
    if dim is None:
        return reshape(a, tuple(size for size in a.shape if size != 1))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    dims = {normalize_dim(d, a.ndim, "squeeze") for d in dims} if a.ndim else set()
    return reshape(a, tuple(size for d, size in enumerate(a.shape)
                            if not (d in dims and size == 1)))


def permute(a: Tensor, *dims) -> Tensor:
    _check_tensor(a, "permute")
    dims = shape_argument(dims, "permute")
    normalized = tuple(normalize_dim(d, a.ndim, "permute") for d in dims)
    if sorted(normalized) != list(range(a.ndim)):
        raise ValueError(f"permute: expected an order of all {a.ndim} dimensions of a tensor "
                         f"of shape {a.shape}, got {dims}")
    return share_version(Permute.apply(a, normalized), a)


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    _check_tensor(a, "transpose")
    if a.ndim == 0:
        return reshape(a, ())
    order = list(range(a.ndim))
    d0, d1 = normalize_dim(dim0, a.ndim, "transpose"), normalize_dim(dim1, a.ndim, "transpose")
    order[d0], order[d1] = order[d1], order[d0]
    return share_version(Permute.apply(a, tuple(order)), a)


def t(a: Tensor) -> Tensor:
    """Transpose of a matrix (a tensor of 0 or 1 dimensions is returned as it is)."""
    _check_tensor(a, "t")
    if a.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {a.shape}; "
                         f"use transpose(dim0, dim1) or permute")
    return transpose(a, 0, -1) if a.ndim == 2 else reshape(a, a.shape)


def reversed_dims(a: Tensor) -> Tensor:
    """x.T: all dimensions in reverse order."""
    return share_version(Permute.apply(a, tuple(reversed(range(a.ndim)))), a)


def expand(a: Tensor, *sizes) -> Tensor:
    """A broadcast view of `a` with the given sizes (-1 keeps a size), as Tensor.expand."""
    _check_tensor(a, "expand")
    sizes = shape_argument(sizes, "expand")
    if len(sizes) < a.ndim:
        raise ValueError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                         f"number of dimensions of shape {a.shape}")
    leading = len(sizes) - a.ndim
    shape = []
    for position, size in enumerate(sizes):
        current = a.shape[position - leading] if position >= leading else None
        if size == -1:
            if current is None:
                raise ValueError(f"expand: -1 is not allowed for a new leading dimension, "
                                 f"got sizes {sizes} for shape {a.shape}")
            size = current
        if current is not None and current != 1 and current != size:
            raise ValueError(f"expand: the size {current} of shape {a.shape} (dimension "
                             f"{position - leading}) must match {size} or be 1, got sizes "
                             f"{sizes}")
        shape.append(size)
    return share_version(Expand.apply(a, tuple(shape)), a)


def expand_as(a: Tensor, other: Tensor) -> Tensor:
    _check_tensor(other, "expand_as")
    return expand(a, other.shape)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension (their other sizes must agree), in the dtype
    they promote to (float32 and float64 give float64, as PyTorch)."""
    tensors = _check_sequence(tensors, "cat")
    dim = normalize_dim(dim, tensors[0].ndim, "cat")
    first = tensors[0]
    for index, other in enumerate(tensors):
        if other.ndim != first.ndim or any(
                size != first.shape[d] for d, size in enumerate(other.shape) if d != dim):
            raise ValueError(f"cat: tensors must have the same shape except in dimension "
                             f"{dim}, got {first.shape} and {other.shape} (tensor {index})")
    return Concatenate.apply(*tensors, dim=dim, stack=False, dtype=result_dtype(*tensors))


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension."""
    tensors = _check_sequence(tensors, "stack")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    for index, other in enumerate(tensors):
        if other.shape != tensors[0].shape:
            raise ValueError(f"stack: expected tensors of one shape, got {tensors[0].shape} "
                             f"and {other.shape} (tensor {index})")
    return Concatenate.apply(*tensors, dim=dim, stack=True, dtype=result_dtype(*tensors))


def _check_sequence(tensors, where: str) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{where}: expected a list or tuple of Tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{where}: expected at least one tensor, got an empty sequence")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{where}: expected Tensors, got {type(tensor).__name__} at "
                            f"position {index}")
    return list(tensors)
