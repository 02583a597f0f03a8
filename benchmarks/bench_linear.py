"""Linear kernels: forward, and forward+backward (grad of input, weight and bias).

Shapes: the MNIST network's layers at batch 60 (784->100, 100->100, 100->10), the small CNN's
head at batch 64 (1568->10) and a large layer (512 x 1024 -> 1024). Columns: the NumPy
reference, minidl's Numba kernel, PyTorch (F.linear, autograd), and `blas`: the bare matrix
products the op needs through NumPy's BLAS (x W^T; and for the backward g W and g^T x), with
the same thread count. The target is minidl fwd+bwd within 1.2x of those products.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from minidl.kernels import linear

from ._harness import COLUMNS, assert_all_close, case_id, measure, random_array, require_torch

CASES = [(60, 784, 100), (60, 100, 100), (60, 100, 10), (64, 1568, 10), (512, 1024, 1024)]
OPS = ("fwd", "fwd+bwd")


def _params():
    return [pytest.param(case, op, column, id=f"{case_id(case)}-{op}-{column}")
            for case in CASES for op in OPS for column in COLUMNS + ("blas",)]


@functools.lru_cache(maxsize=None)
def _inputs(case):
    batch, fan_in, fan_out = case
    return {
        "x": random_array((batch, fan_in), 21),
        "weight": random_array((fan_out, fan_in), 22) / fan_in ** 0.5,
        "bias": random_array(fan_out, 23, -0.1, 0.1),
        "grad": random_array((batch, fan_out), 24),
    }


def _array_op(op, data, kernels):
    forward = getattr(linear, f"linear_forward_{kernels}")
    backward = getattr(linear, f"linear_backward_{kernels}")
    x, w, b, g = data["x"], data["weight"], data["bias"], data["grad"]
    if op == "fwd":
        return lambda: (forward(x, w, b),)
    return lambda: (forward(x, w, b),) + tuple(backward(g, x, w, True, True, True))


def _blas_op(op, data):
    """The bare products through NumPy's BLAS (no bias, no checks, no output sums)."""
    x, w, g = data["x"], data["weight"], data["grad"]
    if op == "fwd":
        return lambda: (np.matmul(x, w.T),)
    return lambda: (np.matmul(x, w.T), np.matmul(g, w), np.matmul(g.T, x))


def _torch_op(op, data):
    torch = require_torch()
    F = torch.nn.functional
    x, w, b = (torch.from_numpy(data[name]) for name in ("x", "weight", "bias"))
    g = torch.from_numpy(data["grad"])
    if op == "fwd":
        return lambda: (F.linear(x, w, b),)
    leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]

    def forward_backward():
        y = F.linear(*leaves)
        y.backward(g)
        grads = tuple(leaf.grad for leaf in leaves)
        for leaf in leaves:
            leaf.grad = None
        return (y.detach(),) + grads
    return forward_backward


@functools.lru_cache(maxsize=None)
def _reference(case, op):
    return _array_op(op, _inputs(case), "reference")()


def group_name(case, op) -> str:
    batch, fan_in, fan_out = case
    return f"linear {op} ({batch},{fan_in})->{fan_out}"


@pytest.mark.parametrize("case, op, column", _params())
def test_linear(benchmark, case, op, column):
    data = _inputs(case)
    expected = _reference(case, op)
    if column == "torch":
        fn = _torch_op(op, data)
    elif column == "blas":
        fn = _blas_op(op, data)
        bias = data["bias"]
        # the products without the bias term; grad_bias is not computed
        expected = (expected[0] - bias,) + tuple(expected[1:3])
    else:
        fn = _array_op(op, data, "reference" if column == "numpy" else "numba")

    def check(result):
        assert_all_close(result, expected, f"{column} {group_name(case, op)}",
                         rtol=1e-3, atol_scale=1e-4)

    # No interleaved re-measurement here: NumPy's OpenBLAS threads (the blas column) and
    # Numba's pool fight when they alternate (KERNELS.md), which would bias it.
    measure(benchmark, fn, family="linear", group=group_name(case, op), column=column,
            check=check, extra={"shape": list(case), "op": op})
