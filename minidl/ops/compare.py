"""Comparisons (== != < <= > >=) giving bool tensors, where, allclose, isnan.

Comparisons have no gradient (their result is piecewise constant); where passes the gradient
to the side each element came from.
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._broadcast import broadcast_shape, sum_to_shape
from ._promotion import as_array, check_operand, result_dtype

_COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                "gt": np.greater, "ge": np.greater_equal}


def compare(a, b, name: str) -> Tensor:
    """a <name> b elementwise, broadcast, as a bool tensor (outside the graph)."""
    a, b = check_operand(a, name), check_operand(b, name)
    shapes = [np.shape(x.data if isinstance(x, Tensor) else x) for x in (a, b)]
    broadcast_shape(*shapes, op=name)
    dtype = result_dtype(a, b)
    arrays = [as_array(x.data if isinstance(x, Tensor) else x, dtype) for x in (a, b)]
    return Tensor._wrap(np.asarray(_COMPARISONS[name](*arrays)))


def eq(a, b) -> Tensor:
    return compare(a, b, "eq")


def ne(a, b) -> Tensor:
    return compare(a, b, "ne")


def lt(a, b) -> Tensor:
    return compare(a, b, "lt")


def le(a, b) -> Tensor:
    return compare(a, b, "le")


def gt(a, b) -> Tensor:
    return compare(a, b, "gt")


def ge(a, b) -> Tensor:
    return compare(a, b, "ge")


class Where(Node):
    saves_inputs = False

    def forward(self, condition, a, b, dtype):
        self.condition = condition
        self.input_shapes = (np.shape(a), np.shape(b))
        self.input_dtypes = tuple(getattr(x, "dtype", None) for x in (a, b))
        return np.where(condition, as_array(a, dtype), as_array(b, dtype))

    def backward(self, grad_output):
        zero = grad_output.dtype.type(0)
        grad_a = grad_b = None
        if self.needs_input_grad[1]:
            grad_a = sum_to_shape(np.where(self.condition, grad_output, zero),
                                  self.input_shapes[0], self.input_dtypes[0])
        if self.needs_input_grad[2]:
            grad_b = sum_to_shape(np.where(self.condition, zero, grad_output),
                                  self.input_shapes[1], self.input_dtypes[1])
        return None, grad_a, grad_b, None


def where(condition: Tensor, a, b) -> Tensor:
    """a where condition is True, b elsewhere (all three broadcast), as torch.where."""
    if not isinstance(condition, Tensor) or condition.dtype.kind != "b":
        got = condition.dtype if isinstance(condition, Tensor) else type(condition).__name__
        raise TypeError(f"where: expected the condition to be a bool tensor (e.g. x > 0), "
                        f"got {got}")
    a, b = check_operand(a, "where"), check_operand(b, "where")
    broadcast_shape(condition.shape, *(np.shape(x.data if isinstance(x, Tensor) else x)
                                       for x in (a, b)), op="where")
    return Where.apply(condition.data, a, b, result_dtype(a, b))


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether |a - b| <= atol + rtol |b| everywhere (torch.allclose)."""
    for name, x in (("first", a), ("second", b)):
        if not isinstance(x, Tensor):
            raise TypeError(f"allclose: expected the {name} argument to be a Tensor, got "
                            f"{type(x).__name__}")
    broadcast_shape(a.shape, b.shape, op="allclose")
    return bool(np.allclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isnan(a: Tensor) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"isnan: expected a Tensor, got {type(a).__name__}")
    return Tensor._wrap(np.isnan(a.data))
