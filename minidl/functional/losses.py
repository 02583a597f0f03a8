"""softmax, log_softmax and the losses: cross_entropy (on logits) and mse_loss."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..autograd.engine import Node
from ..backend import kernel
from ..tensor import Tensor
from ._empty import rows_of


def _rows_along(x: np.ndarray, dim: int) -> np.ndarray:
    """A 2-D (rows, x.shape[dim]) array whose rows run along `dim` (the kernels' layout)."""
    return rows_of(np.moveaxis(x, dim, -1))


def _from_rows(rows: np.ndarray, shape: tuple, dim: int) -> np.ndarray:
    moved = shape[:dim] + shape[dim + 1:] + (shape[dim],)
    return np.moveaxis(rows.reshape(moved), -1, dim)


class SoftmaxFunction(Node):
    def forward(self, x, dim, log):
        self.dim, self.log, self.shape = dim, log, x.shape
        if x.size == 0:  # nothing to normalise; a row's maximum would be a maximum of nothing
            return np.empty_like(x)
        name = "log_softmax_forward" if log else "softmax_forward"
        self.y = kernel(name)(_rows_along(x, dim))  # both backward formulas need only y
        return _from_rows(self.y, x.shape, dim)

    def backward(self, grad_output):
        if grad_output.size == 0:
            return np.empty_like(grad_output), None, None
        name = "log_softmax_backward" if self.log else "softmax_backward"
        grad = kernel(name)(_rows_along(grad_output, self.dim), self.y)
        return _from_rows(grad, self.shape, self.dim), None, None


def softmax(input: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably (the row maximum is subtracted)."""
    return _softmax(input, dim, log=False, where="softmax")


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """x - logsumexp(x) along `dim`, computed stably."""
    return _softmax(input, dim, log=True, where="log_softmax")


def _softmax(input, dim, log, where):
    _checks.check_float_tensor(input, where)
    if input.ndim == 0:
        raise ValueError(f"{where}: expected a tensor with at least one dimension, got a scalar")
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{where}: expected dim to be an int, got {dim!r}")
    if not -input.ndim <= dim < input.ndim:
        raise ValueError(f"{where}: dim {dim} is out of range for input of shape {input.shape}")
    return SoftmaxFunction.apply(input, int(dim) % input.ndim, log)


class CrossEntropyFunction(Node):
    def forward(self, logits, target, reduction):
        self.reduction = reduction
        if logits.size == 0:  # an empty batch (the classes are checked to be at least 1)
            self.grad_logits = np.zeros_like(logits)
            return _reduce(np.empty(0, dtype=logits.dtype), reduction)
        # one fused kernel gives each sample's loss and d(loss_i)/d(logits_i) = softmax - onehot
        losses, self.grad_logits = kernel("softmax_cross_entropy")(logits, target)
        return _reduce(losses, reduction)

    def backward(self, grad_output):
        if self.reduction == "none":
            scale = grad_output[:, None]
        elif self.reduction == "mean":
            scale = _mean_scale(grad_output, len(self.grad_logits))
        else:
            scale = grad_output
        return self.grad_logits * scale, None, None


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    """values summed or averaged in float64; the mean of no values is NaN, as in PyTorch."""
    if reduction == "none":
        return values
    total = values.sum(dtype=np.float64)
    if reduction == "mean":
        total = total / values.size if values.size else np.nan
    return np.asarray(total, dtype=values.dtype)


def _mean_scale(grad_output: np.ndarray, count: int) -> np.ndarray:
    """d(mean)/d(value) times the upstream gradient: grad_output / count. For no values
    there is nothing to scale (and no division by 0 to warn about)."""
    return grad_output / grad_output.dtype.type(count) if count else grad_output


def cross_entropy(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Cross-entropy between logits and integer class targets: log-softmax followed by NLL.

    Shape:
        input (N, C) logits (not probabilities); target (N,) integers in [0, C), a NumPy array
        or an integer Tensor; output a scalar, or (N,) with reduction='none'.
    """
    where = "cross_entropy"
    _checks.check_float_tensor(input, where)
    _checks.check_reduction(reduction, where)
    if input.ndim != 2:
        raise ValueError(f"{where}: expected input of shape (N, C) holding logits, got "
                         f"{input.shape}")
    target = _class_targets(target, input.shape, where)
    return CrossEntropyFunction.apply(input, target, reduction)


def _class_targets(target, input_shape, where) -> np.ndarray:
    array = target.data if isinstance(target, Tensor) else target
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where}: expected target to be an integer NumPy array or Tensor, got "
                        f"{type(target).__name__}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{where}: expected integer class indices as target, got dtype "
                        f"{array.dtype}")
    batch, classes = input_shape
    if classes == 0 and batch:  # (an empty batch of 0 classes gives PyTorch's NaN mean)
        raise ValueError(f"{where}: expected logits for at least one class, got input of "
                         f"shape {input_shape}")
    if array.shape != (batch,):
        raise ValueError(f"{where}: expected target of shape ({batch},) for input of shape "
                         f"{input_shape}, got {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= classes):
        bad = array[(array < 0) | (array >= classes)][0]
        raise ValueError(f"{where}: expected target values in [0, {classes - 1}] for {classes} "
                         f"classes, got {bad}")
    return np.ascontiguousarray(array, dtype=np.int64)


class MSEFunction(Node):
    def forward(self, input, target, reduction):
        self.input, self.target, self.reduction = input, target, reduction
        return _reduce(kernel("squared_error_forward")(input, target), reduction)

    def backward(self, grad_output):
        if self.reduction == "mean":
            grad_output = _mean_scale(grad_output, self.input.size)
        upstream = np.broadcast_to(grad_output, self.input.shape)
        grad_input = kernel("squared_error_backward")(upstream, self.input, self.target)
        grad_target = -grad_input if self.needs_input_grad[1] else None
        return grad_input, grad_target, None


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) of the squared differences; shapes must match exactly."""
    where = "mse_loss"
    _checks.check_float_tensor(input, where)
    _checks.check_float_tensor(target, where, "target")
    _checks.check_reduction(reduction, where)
    _checks.check_shape(target, input.shape, where, "target")
    _checks.check_same_dtype(target, input, where, "target", "input")
    return MSEFunction.apply(input, target, reduction)
