"""Pooling kernels: max 2x2/2, average 2x2/2 and adaptive average to 1x1 (global average).

Shapes: the small CNN's poolings (64,16,28,28) and (64,32,14,14), a larger (64,64,32,32), and
the ResNet head's global average (64,32,16,16). Forward, and forward+backward. Columns: the
NumPy reference, minidl's Numba kernel, PyTorch (autograd for the backward) and the copy probe
(the same number of values as the input: pooling reads the input once and, in the backward,
writes a gradient of that size).
"""
from __future__ import annotations

import functools

import pytest

from minidl.kernels import pooling

from ._harness import (COLUMNS, assert_all_close, case_id, measure, random_array,
                       require_torch, shape_text)
from ._probe import check_copy, copy_probe

CASES = [("max", (64, 16, 28, 28)), ("max", (64, 32, 14, 14)), ("max", (64, 64, 32, 32)),
         ("avg", (64, 64, 32, 32)),
         ("adaptive_avg", (64, 32, 16, 16)), ("adaptive_avg", (64, 64, 32, 32))]
OPS = ("fwd", "fwd+bwd")
KERNEL, STRIDE, PADDING = (2, 2), (2, 2), (0, 0)


def _params():
    return [pytest.param(case, op, column, id=f"{case_id(case)}-{op}-{column}")
            for case in CASES for op in OPS for column in COLUMNS + ("copy",)]


@functools.lru_cache(maxsize=None)
def _inputs(case):
    kind, shape = case
    n, c, h, w = shape
    out_shape = (n, c, 1, 1) if kind == "adaptive_avg" else (n, c, h // 2, w // 2)
    return {"x": random_array(shape, 31), "grad": random_array(out_shape, 32)}


def _array_op(kind, op, data, kernels):
    x, g = data["x"], data["grad"]
    if kind == "max":
        forward = getattr(pooling, f"max_pool2d_forward_{kernels}")
        backward = getattr(pooling, f"max_pool2d_backward_{kernels}")
        if op == "fwd":
            return lambda: tuple(forward(x, KERNEL, STRIDE, PADDING))  # (y, indices)

        def max_forward_backward():
            y, indices = forward(x, KERNEL, STRIDE, PADDING)
            return y, backward(g, indices, x.shape)
        return max_forward_backward
    if kind == "avg":
        forward = getattr(pooling, f"avg_pool2d_forward_{kernels}")
        backward = getattr(pooling, f"avg_pool2d_backward_{kernels}")
        if op == "fwd":
            return lambda: (forward(x, KERNEL, STRIDE, PADDING, True),)
        return lambda: (forward(x, KERNEL, STRIDE, PADDING, True),
                        backward(g, x.shape, KERNEL, STRIDE, PADDING, True))
    forward = getattr(pooling, f"adaptive_avg_pool2d_forward_{kernels}")
    backward = getattr(pooling, f"adaptive_avg_pool2d_backward_{kernels}")
    if op == "fwd":
        return lambda: (forward(x, (1, 1)),)
    return lambda: (forward(x, (1, 1)), backward(g, x.shape))


def _torch_op(kind, op, data):
    torch = require_torch()
    F = torch.nn.functional
    functions = {"max": lambda t: F.max_pool2d(t, KERNEL, STRIDE, PADDING),
                 "avg": lambda t: F.avg_pool2d(t, KERNEL, STRIDE, PADDING),
                 "adaptive_avg": lambda t: F.adaptive_avg_pool2d(t, (1, 1))}
    function = functions[kind]
    x, g = torch.from_numpy(data["x"]), torch.from_numpy(data["grad"])
    if op == "fwd":
        return lambda: (function(x),)
    leaf = x.clone().requires_grad_(True)

    def forward_backward():
        y = function(leaf)
        y.backward(g)
        grad, leaf.grad = leaf.grad, None
        return y.detach(), grad
    return forward_backward


@functools.lru_cache(maxsize=None)
def _reference(case, op):
    return _array_op(case[0], op, _inputs(case), "reference")()


def group_name(case, op) -> str:
    kind, shape = case
    name = {"max": "max_pool2d 2x2/2", "avg": "avg_pool2d 2x2/2",
            "adaptive_avg": "adaptive_avg_pool2d ->1x1"}[kind]
    return f"pooling {name} {op} {shape_text(shape)}"


@pytest.mark.parametrize("case, op, column", _params())
def test_pooling(benchmark, case, op, column):
    kind, shape = case
    data = _inputs(case)
    extra = {"shape": list(shape), "op": op, "kind": kind, "memory_bound": True}
    if column == "copy":
        measure(benchmark, lambda: copy_probe(data["x"]), family="pooling",
                group=group_name(case, op), column="copy", check=check_copy(data["x"]),
                extra=extra)
        return
    expected = _reference(case, op)
    if column == "torch":
        fn = _torch_op(kind, op, data)
        if kind == "max" and op == "fwd":
            expected = expected[:1]  # PyTorch's forward gives no indices
    else:
        fn = _array_op(kind, op, data, "reference" if column == "numpy" else "numba")

    def check(result):
        assert_all_close(result, expected, f"{column} {group_name(case, op)}")

    measure(benchmark, fn, family="pooling", group=group_name(case, op), column=column,
            check=check, extra=extra)
