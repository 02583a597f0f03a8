"""Reductions: sum, mean, max/min (with dim: values and indices, as torch.max(x, dim)),
argmax/argmin, var/std (correction, or PyTorch's older unbiased=), logsumexp."""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._dims import normalize_dim, normalize_dims
from ._promotion import INT64

# (this module defines sum, max and min under PyTorch's names: Python's are builtins.max, ...)

# what torch.max(x, dim) returns: a named pair, also usable as `values, indices = ...`
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _restore_dims(grad: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """grad of a reduced tensor with the reduced axes back as size 1, so it broadcasts to
    the input's shape (a full reduction's 0-d grad broadcasts as it is)."""
    if keepdims or axis is None:
        return grad
    return np.expand_dims(grad, axis)


def _count(shape: tuple, axis) -> int:
    """How many elements each output of a reduction over `axis` combines."""
    return int(np.prod(shape if axis is None else [shape[d] for d in axis]))


class Sum(Node):
    saves_inputs = False

    def forward(self, a, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = a.shape, axis, keepdims
        dtype = INT64 if a.dtype.kind in "bi" else a.dtype  # bools and ints sum to int64
        return np.asarray(a.sum(axis=axis, keepdims=keepdims, dtype=dtype))

    def backward(self, grad_output):
        grad = _restore_dims(grad_output, self.axis, self.keepdims)
        return np.broadcast_to(grad, self.input_shape).copy(), None, None


class Mean(Node):
    saves_inputs = False

    def forward(self, a, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = a.shape, axis, keepdims
        self.count = _count(a.shape, axis)
        return np.asarray(a.mean(axis=axis, keepdims=keepdims), dtype=a.dtype)

    def backward(self, grad_output):
        grad = _restore_dims(grad_output, self.axis, self.keepdims)
        scale = grad_output.dtype.type(1.0 / builtins.max(self.count, 1))
        return np.broadcast_to(grad * scale, self.input_shape).copy(), None, None


class Var(Node):
    def forward(self, a, axis, correction, keepdims):
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.divisor = builtins.max(_count(a.shape, axis) - correction, 0)
        self.mean = a.mean(axis=axis, keepdims=True)
        squares = np.square(a - self.mean).sum(axis=axis, keepdims=keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):  # n <= correction: inf/nan
            return np.asarray(squares / a.dtype.type(self.divisor), dtype=a.dtype)

    def backward(self, grad_output):
        grad = _restore_dims(grad_output, self.axis, self.keepdims)
        scale = self.a.dtype.type(2.0 / self.divisor) if self.divisor else np.nan
        return (grad * scale * (self.a - self.mean)).astype(self.a.dtype), None, None, None


class LogSumExp(Node):
    def forward(self, a, axis, keepdims):
        self.a, self.axis, self.keepdims = a, axis, keepdims
        # shift by the maximum so no exp overflows; a row of -inf stays -inf
        shift = np.max(a, axis=axis, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)
        with np.errstate(divide="ignore"):  # log(0) of a row of -inf: -inf, as PyTorch
            self.result = np.log(np.exp(a - shift).sum(axis=axis, keepdims=True)) + shift
        out = self.result if keepdims else np.squeeze(self.result, axis=axis)
        return np.asarray(out, dtype=a.dtype)

    def backward(self, grad_output):
        grad = _restore_dims(grad_output, self.axis, self.keepdims)
        return grad * np.exp(self.a - self.result), None, None


class MaxAll(Node):
    """max() or min() of every element: the gradient is shared among ties, as PyTorch."""

    def forward(self, a, reduce):
        self.a = a
        self.value = reduce(a)
        return np.asarray(self.value)

    def backward(self, grad_output):
        ties = self.a == self.value
        # the count in grad's dtype: grad / int64 would be float64 for a float32 input
        return grad_output * ties / grad_output.dtype.type(ties.sum()), None


class MaxDim(Node):
    """max(dim) or min(dim): values and the index of each; the gradient goes to the index."""

    def forward(self, a, dim, keepdim, pick):
        self.input_shape, self.dim, self.keepdim = a.shape, dim, keepdim
        self.indices = pick(a, axis=dim, keepdims=True)
        values = np.take_along_axis(a, self.indices, axis=dim)
        return values if keepdim else np.squeeze(values, axis=dim)

    def backward(self, grad_output):
        grad = grad_output if self.keepdim else np.expand_dims(grad_output, self.dim)
        grad_input = np.zeros(self.input_shape, dtype=grad_output.dtype)
        np.put_along_axis(grad_input, self.indices, grad, axis=self.dim)
        return grad_input, None, None, None


def _check_tensor(a, where: str) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(a).__name__}")


def _check_float(a, where: str) -> None:
    _check_tensor(a, where)
    if a.dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating point tensor, got dtype {a.dtype}; "
                        f"convert with .float() first")


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    _check_tensor(a, "sum")
    return Sum.apply(a, normalize_dims(dim, a.ndim, "sum"), keepdim)


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    _check_float(a, "mean")
    return Mean.apply(a, normalize_dims(dim, a.ndim, "mean"), keepdim)


def var(a: Tensor, dim=None, unbiased=None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over `dim`, divided by n - correction (default 1, Bessel's correction, as
    PyTorch); unbiased=False is PyTorch's older spelling of correction=0."""
    return Var.apply(*_variance_arguments(a, dim, unbiased, correction, keepdim, "var"))


def std(a: Tensor, dim=None, unbiased=None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation: sqrt of var (same arguments)."""
    from .elementwise import sqrt
    return sqrt(Var.apply(*_variance_arguments(a, dim, unbiased, correction, keepdim, "std")))


def _variance_arguments(a, dim, unbiased, correction, keepdim, where):
    _check_float(a, where)
    if isinstance(dim, (bool, np.bool_)):  # var(x, True): PyTorch's positional unbiased
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ValueError(f"{where}: give unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{where}: unbiased must be True or False, got {unbiased!r}")
        correction = 1 if unbiased else 0
    correction = 1 if correction is None else correction
    if not isinstance(correction, (int, float, np.number)) or isinstance(correction, bool) \
            or correction < 0:
        raise ValueError(f"{where}: correction must be a number >= 0, got {correction!r}")
    return a, normalize_dims(dim, a.ndim, where), correction, keepdim


def logsumexp(a: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(a), dim)), computed without overflow."""
    _check_float(a, "logsumexp")
    return LogSumExp.apply(a, normalize_dims(dim, a.ndim, "logsumexp"), keepdim)


def max(a: Tensor, dim=None, keepdim: bool = False):
    """The largest value (dim=None), or (values, indices) along `dim`, as torch.max."""
    return _extreme(a, dim, keepdim, np.max, np.argmax, "max")


def min(a: Tensor, dim=None, keepdim: bool = False):
    """The smallest value (dim=None), or (values, indices) along `dim`, as torch.min."""
    return _extreme(a, dim, keepdim, np.min, np.argmin, "min")


def _extreme(a, dim, keepdim, reduce, pick, where):
    _check_tensor(a, where)
    if a.numel() == 0:
        raise ValueError(f"{where}: expected a non-empty tensor, got shape {a.shape}")
    if dim is None:
        return MaxAll.apply(a, reduce)
    if a.ndim == 0:  # torch.max(scalar, 0): the scalar and index 0
        return ValuesIndices(MaxAll.apply(a, reduce), Tensor._wrap(np.asarray(0)))
    dim = normalize_dim(dim, a.ndim, where)
    values, node = MaxDim.apply_with_node(a, dim, keepdim, pick)
    indices = node.indices if keepdim else np.squeeze(node.indices, axis=dim)
    return ValuesIndices(values, Tensor._wrap(indices.astype(INT64, copy=False)))


def argmax(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(a, dim, keepdim, np.argmax, "argmax")


def argmin(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(a, dim, keepdim, np.argmin, "argmin")


def _arg_extreme(a, dim, keepdim, pick, where):
    _check_tensor(a, where)
    if a.numel() == 0:
        raise ValueError(f"{where}: expected a non-empty tensor, got shape {a.shape}")
    if dim is None:  # the index into the flattened tensor, as PyTorch
        index = pick(a.data)
        return Tensor._wrap(np.asarray(index, dtype=INT64).reshape((1,) * a.ndim if keepdim
                                                                   else ()))
    dim = normalize_dim(dim, a.ndim, where) if a.ndim else None
    return Tensor._wrap(np.asarray(pick(a.data, axis=dim, keepdims=keepdim), dtype=INT64))


def any(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether any element (along `dim`) is nonzero: a bool tensor, outside the graph."""
    _check_tensor(a, "any")
    return Tensor._wrap(np.asarray(a.data.any(axis=normalize_dims(dim, a.ndim, "any"),
                                              keepdims=keepdim)))


def all(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element (along `dim`) is nonzero: a bool tensor, outside the graph."""
    _check_tensor(a, "all")
    return Tensor._wrap(np.asarray(a.data.all(axis=normalize_dims(dim, a.ndim, "all"),
                                              keepdims=keepdim)))
