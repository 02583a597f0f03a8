"""Activation kernels: ReLU, sigmoid and tanh, forward and forward+backward.

Shapes: a conv-sized activation (64,64,32,32) (4.2 M values) for each, and the MNIST network's
sigmoid at batch 60 (60,100). Columns: the NumPy reference, minidl's Numba kernel, PyTorch
(autograd for the backward) and, for the large shape, the copy probe (elementwise ops are
memory-bound).
"""
from __future__ import annotations

import functools

import pytest

from minidl.kernels import activations

from ._harness import (COLUMNS, assert_all_close, case_id, measure, random_array,
                       require_torch, shape_text)
from ._probe import check_copy, copy_probe

LARGE = (64, 64, 32, 32)
CASES = [("relu", LARGE), ("sigmoid", LARGE), ("tanh", LARGE), ("sigmoid", (60, 100))]
OPS = ("fwd", "fwd+bwd")
# the backward of relu reads the forward input, those of sigmoid and tanh the forward output
BACKWARD_READS_INPUT = {"relu": True, "sigmoid": False, "tanh": False}


def _params():
    params = []
    for case in CASES:
        columns = COLUMNS + (("copy",) if case[1] == LARGE else ())
        params += [pytest.param(case, op, column, id=f"{case_id(case)}-{op}-{column}")
                   for op in OPS for column in columns]
    return params


@functools.lru_cache(maxsize=None)
def _inputs(shape):
    return {"x": random_array(shape, 41) * 3.0, "grad": random_array(shape, 42)}


def _array_op(name, op, data, kernels):
    forward = getattr(activations, f"{name}_forward_{kernels}")
    backward = getattr(activations, f"{name}_backward_{kernels}")
    x, g = data["x"], data["grad"]
    if op == "fwd":
        return lambda: (forward(x),)

    def forward_backward():
        y = forward(x)
        return y, backward(g, x if BACKWARD_READS_INPUT[name] else y)
    return forward_backward


def _torch_op(name, op, data):
    torch = require_torch()
    function = getattr(torch, name)
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
    return _array_op(case[0], op, _inputs(case[1]), "reference")()


def group_name(case, op) -> str:
    return f"activations {case[0]} {op} {shape_text(case[1])}"


@pytest.mark.parametrize("case, op, column", _params())
def test_activation(benchmark, case, op, column):
    name, shape = case
    data = _inputs(shape)
    extra = {"shape": list(shape), "op": op, "memory_bound": True}
    if column == "copy":
        measure(benchmark, lambda: copy_probe(data["x"]), family="activations",
                group=group_name(case, op), column="copy", check=check_copy(data["x"]),
                extra=extra)
        return
    if column == "torch":
        fn = _torch_op(name, op, data)
    else:
        fn = _array_op(name, op, data, "reference" if column == "numpy" else "numba")
    expected = _reference(case, op)

    def check(result):
        assert_all_close(result, expected, f"{column} {group_name(case, op)}",
                         rtol=1e-5, atol_scale=1e-6)

    measure(benchmark, fn, family="activations", group=group_name(case, op), column=column,
            check=check, extra=extra)
