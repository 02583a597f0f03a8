"""Gradient clipping, as torch.nn.utils: clip_grad_norm_ and clip_grad_value_ (in place)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients of `parameters` in place so that their total norm is at most
    `max_norm`, and return the total norm they had (a 0-d Tensor), as PyTorch does.

    The total norm is the `norm_type`-norm of all gradients taken together as one vector
    (`float('inf')`: the largest absolute value). Gradients are multiplied by
    `max_norm / (total_norm + 1e-6)` when that is below 1, and left as they are otherwise.
    The norm is accumulated in float64 (a float32 sum of squares of a million gradients loses
    digits) and returned in the gradients' dtype.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. `model.parameters()`); those
            without a gradient are skipped.
        max_norm: the largest total norm allowed, a number >= 0.
        norm_type: the p of the p-norm, a number > 0 or `float('inf')`.
        error_if_nonfinite: raise RuntimeError (and change nothing) if the total norm is NaN or
            infinite; by default the gradients are then scaled by it as PyTorch does (they
            become NaN).

        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    """
    where = "clip_grad_norm_"
    grads = _gradients(parameters, where)
    max_norm = _check_bound(max_norm, where, "max_norm")
    norm_type = _check_norm_type(norm_type, where)
    if not isinstance(error_if_nonfinite, bool):
        raise TypeError(f"{where}: error_if_nonfinite must be True or False, got "
                        f"{error_if_nonfinite!r}")
    if not grads:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    total_norm = _total_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(f"{where}: the total norm of order {norm_type} of the gradients is "
                           f"non-finite ({total_norm}), so they cannot be clipped; set "
                           f"error_if_nonfinite=False to scale them by it anyway")
    scale = min(max_norm / (total_norm + 1e-6), 1.0)  # NaN stays NaN, as in PyTorch
    if scale != 1.0:
        for grad in grads:
            grad.data *= grad.data.dtype.type(scale)
    dtype = np.result_type(*(grad.data.dtype for grad in grads))
    return Tensor._wrap(np.array(total_norm, dtype=dtype))


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp the gradients of `parameters` in place to [-clip_value, clip_value] (a number
    >= 0), as torch.nn.utils.clip_grad_value_; parameters without a gradient are skipped."""
    where = "clip_grad_value_"
    grads = _gradients(parameters, where)
    clip_value = _check_bound(clip_value, where, "clip_value")
    for grad in grads:
        np.clip(grad.data, -clip_value, clip_value, out=grad.data)


def _gradients(parameters, where: str) -> list[Tensor]:
    """The gradients of `parameters` (a Tensor or an iterable of them) that exist, each checked
    to be a writable floating point array (they are changed in place)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    elif isinstance(parameters, (str, bytes)) or not hasattr(parameters, "__iter__"):
        raise TypeError(f"{where}: expected a Tensor or an iterable of Tensors (e.g. "
                        f"model.parameters()), got {type(parameters).__name__}")
    grads = []
    for position, parameter in enumerate(parameters):
        if not isinstance(parameter, Tensor):
            raise TypeError(f"{where}: expected Tensors, got a {type(parameter).__name__} at "
                            f"position {position} of parameters")
        grad = parameter.grad
        if grad is None:
            continue
        array = grad.data
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            raise TypeError(f"{where}: the gradient of parameter {position} is not a floating "
                            f"point array (got {type(array).__name__} of dtype "
                            f"{getattr(array, 'dtype', None)})")
        if not array.flags.writeable:
            raise ValueError(f"{where}: the gradient of parameter {position} is read-only, and "
                             f"it is changed in place; assign a copy: p.grad.data = "
                             f"np.array(p.grad.data)")
        grads.append(grad)
    return grads


def _check_bound(value, where: str, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: expected {name} to be a number, got {value!r}")
    if not value >= 0:  # also refuses NaN
        raise ValueError(f"{where}: expected {name} >= 0, got {value}")
    return float(value)


def _check_norm_type(norm_type, where: str) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf  # PyTorch takes float(norm_type), so 'inf' works there too
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool):
        raise TypeError(f"{where}: expected norm_type to be a number or 'inf', got "
                        f"{norm_type!r}")
    if not norm_type > 0:
        raise ValueError(f"{where}: expected norm_type > 0 (or inf), got {norm_type}")
    return float(norm_type)


def _total_norm(grads: list[Tensor], norm_type: float) -> float:
    """The norm_type-norm of all gradients as one vector, computed in float64: the norm of
    the per-gradient norms, as PyTorch computes it."""
    norms = np.array([np.linalg.norm(grad.data.reshape(-1).astype(np.float64), ord=norm_type)
                      if grad.data.size else 0.0  # (the inf-norm of nothing is undefined)
                      for grad in grads])
    return float(np.linalg.norm(norms, ord=norm_type))
