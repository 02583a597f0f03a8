"""Matrix products: a @ b (torch.matmul's rules: 1-D operands, broadcast batch dimensions) and
mm (2-D only). Both operands must have the same dtype, as in PyTorch."""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._broadcast import sum_to_shape


class MatMul(Node):
    def forward(self, a, b):
        self.a, self.b = a, b
        return np.matmul(a, b)

    def backward(self, grad_output):
        # lift 1-D operands to matrices ((k,) @ M is (1, k) @ M; M @ (k,) is M @ (k, 1)), so
        # both gradients are the matrix formulas, then drop the lifted dimensions again
        a = self.a[None, :] if self.a.ndim == 1 else self.a
        b = self.b[:, None] if self.b.ndim == 1 else self.b
        grad = grad_output
        if self.a.ndim == 1 and self.b.ndim == 1:
            grad = np.reshape(grad, (1, 1))  # the dot product's 0-d gradient
        elif self.a.ndim == 1:
            grad = np.expand_dims(grad, -2)
        elif self.b.ndim == 1:
            grad = np.expand_dims(grad, -1)
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = np.matmul(grad, np.swapaxes(b, -1, -2))
            grad_a = sum_to_shape(grad_a, a.shape, a.dtype).reshape(self.a.shape)
        if self.needs_input_grad[1]:
            grad_b = np.matmul(np.swapaxes(a, -1, -2), grad)
            grad_b = sum_to_shape(grad_b, b.shape, b.dtype).reshape(self.b.shape)
        return grad_a, grad_b


def matmul(a: Tensor, b: Tensor) -> Tensor:
    _check_operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        inner_a = None
    if inner_a != inner_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"(inner sizes must agree and batch dimensions broadcast)")
    return MatMul.apply(a, b)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """(n, k) @ (k, m) -> (n, m): matrices only (use matmul for the general case)."""
    _check_operands(a, b, "mm")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"mm: expected matrices of shapes (n, k) and (k, m), got {a.shape} "
                         f"and {b.shape}")
    return MatMul.apply(a, b)


def _check_operands(a, b, op: str) -> None:
    for name, x in (("first", a), ("second", b)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}: expected the {name} argument to be a Tensor, got "
                            f"{type(x).__name__}")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: expected both arguments to have the same dtype (PyTorch "
                        f"does not promote here either), got {a.dtype} and {b.dtype}")
    if a.dtype.kind == "b":
        raise TypeError(f"{op}: not defined on bool tensors")
