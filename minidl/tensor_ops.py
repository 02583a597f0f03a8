"""Small Tensor arithmetic: +, -, *, reshape, flatten, sum, mean, casts.

Each is a graph node, so residual blocks and custom losses need no special layer. Shapes must
match exactly: nothing is broadcast silently, and float32 never meets float64 unnoticed.
"""
from __future__ import annotations

import numbers

import numpy as np

from .autograd import Function
from .tensor import Tensor


def _check_operand(a: Tensor, b, op: str):
    """Return b as a Tensor or a number of a's dtype; refuse broadcasting and dtype mixing."""
    if isinstance(b, Tensor):
        if b.shape != a.shape:
            raise ValueError(f"Tensor {op} Tensor: shapes must match exactly (no broadcasting), "
                             f"got {a.shape} and {b.shape}")
        if b.dtype != a.dtype:
            raise TypeError(f"Tensor {op} Tensor: dtypes must match (no silent casting), got "
                            f"{a.dtype} and {b.dtype}; convert one with .float() or .double()")
        return b
    if isinstance(b, numbers.Real) and not isinstance(b, bool):
        return a.dtype.type(b)
    raise TypeError(f"Tensor {op} x: x must be a Tensor or a number, got {type(b).__name__}")


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad_output):
        return grad_output, grad_output


class Mul(Function):
    def forward(self, a, b):
        # the inputs, only where the other side needs them for its gradient
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        return a * b

    def backward(self, grad_output):
        grad_a = grad_output * self.b if self.needs_input_grad[0] else None
        grad_b = grad_output * self.a if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad_output):
        return (-grad_output,)


class Reshape(Function):
    def forward(self, a, shape):
        self.input_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad_output):
        return grad_output.reshape(self.input_shape), None


class Sum(Function):
    def forward(self, a, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims), dtype=a.dtype)

    def backward(self, grad_output):
        if not self.keepdims and self.axis is not None:
            grad_output = np.expand_dims(grad_output, self.axis)
        return np.broadcast_to(grad_output, self.input_shape).copy(), None, None


class Mean(Function):
    def forward(self, a, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = a.shape, axis, keepdims
        axes = range(a.ndim) if axis is None else axis
        self.count = int(np.prod([a.shape[i] for i in axes]))
        return np.asarray(a.mean(axis=axis, keepdims=keepdims), dtype=a.dtype)

    def backward(self, grad_output):
        if not self.keepdims and self.axis is not None:
            grad_output = np.expand_dims(grad_output, self.axis)
        scale = grad_output.dtype.type(1.0 / self.count)
        return np.broadcast_to(grad_output * scale, self.input_shape).copy(), None, None


class Cast(Function):
    def forward(self, a, dtype):
        self.input_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, grad_output):
        return grad_output.astype(self.input_dtype), None


def add(a: Tensor, b) -> Tensor:
    return Add.apply(a, _check_operand(a, b, "+"))


def sub(a: Tensor, b) -> Tensor:
    b = _check_operand(a, b, "-")
    return Add.apply(a, -b if not isinstance(b, Tensor) else Neg.apply(b))


def mul(a: Tensor, b) -> Tensor:
    return Mul.apply(a, _check_operand(a, b, "*"))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def reshape(a: Tensor, shape) -> Tensor:
    try:
        shape = tuple(int(s) for s in shape)
        np.empty(a.shape, dtype=np.bool_).reshape(shape)  # validates without touching data
    except (TypeError, ValueError) as error:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({a.numel()} elements) into {tuple(shape)}") from error
    return Reshape.apply(a, shape)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = _normalize_dim(start_dim, a.ndim, "flatten"), _normalize_dim(end_dim, a.ndim,
                                                                                "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim "
                         f"({end_dim}) for a tensor of {a.ndim} dimensions")
    merged = int(np.prod(a.shape[start:end + 1]))
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1:])


def reduce_sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Sum.apply(a, _normalize_dims(dim, a.ndim, "sum"), keepdim)


def reduce_mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    if a.dtype.kind != "f":
        raise TypeError(f"mean: expected a floating point tensor, got dtype {a.dtype}")
    return Mean.apply(a, _normalize_dims(dim, a.ndim, "mean"), keepdim)


def cast(a: Tensor, dtype) -> Tensor:
    return Cast.apply(a, dtype)


def _normalize_dim(dim: int, ndim: int, where: str) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{where}: dim must be an int, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{where}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % max(ndim, 1)


def _normalize_dims(dim, ndim: int, where: str):
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    normalized = tuple(_normalize_dim(d, ndim, where) for d in dims)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{where}: dim {dim} repeats a dimension")
    return normalized
