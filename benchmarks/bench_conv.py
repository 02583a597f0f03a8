"""Conv2d kernels: forward, and forward+backward (grad of input, weight and bias).

Shapes: (64,32,16,16) -> 64 channels and (64,3,32,32) -> 32 channels, each with 3x3 and 5x5
kernels ("same" padding k//2), stride 1 and 2. Columns: the NumPy reference (im2col + matmul),
minidl's Numba kernel, PyTorch (F.conv2d, autograd for the backward: oneDNN/MKL on CPU).
"""
from __future__ import annotations

import functools

import pytest

from minidl.kernels import conv

from ._harness import (COLUMNS, assert_all_close, case_id, measure, optional_torch,
                       random_array, require_torch, shape_text)

INPUTS = [((64, 32, 16, 16), 64), ((64, 3, 32, 32), 32)]
CASES = [(shape, out_channels, kernel, stride)
         for shape, out_channels in INPUTS for kernel in (3, 5) for stride in (1, 2)]
OPS = ("fwd", "fwd+bwd")
DILATION = (1, 1)
GROUPS = 1


def _params():
    return [pytest.param(case, op, column, id=f"{case_id(case)}-{op}-{column}")
            for case in CASES for op in OPS for column in COLUMNS]


@functools.lru_cache(maxsize=None)
def _inputs(case):
    shape, out_channels, kernel, stride = case
    n, channels, height, width = shape
    padding = kernel // 2
    out_h, out_w = conv.conv2d_output_size(height, width, (kernel, kernel), (stride, stride),
                                           (padding, padding), DILATION)
    fan_in = channels * kernel * kernel
    return {
        "x": random_array(shape, 11),
        "weight": random_array((out_channels, channels, kernel, kernel), 12) / fan_in ** 0.5,
        "bias": random_array(out_channels, 13, -0.1, 0.1),
        "grad": random_array((n, out_channels, out_h, out_w), 14),
        "stride": (stride, stride),
        "padding": (padding, padding),
    }


def _array_op(op, data, kernels):
    forward = getattr(conv, f"conv2d_forward_{kernels}")
    backward = getattr(conv, f"conv2d_backward_{kernels}")
    x, w, b, g = data["x"], data["weight"], data["bias"], data["grad"]
    geometry = (data["stride"], data["padding"], DILATION, GROUPS)
    if op == "fwd":
        return lambda: (forward(x, w, b, *geometry),)

    def forward_backward():
        y = forward(x, w, b, *geometry)
        return (y,) + tuple(backward(g, x, w, *geometry, True, True, True))
    return forward_backward


def _torch_op(op, data):
    torch = require_torch()
    F = torch.nn.functional
    x, w, b = (torch.from_numpy(data[name]) for name in ("x", "weight", "bias"))
    g = torch.from_numpy(data["grad"])
    stride, padding = data["stride"], data["padding"]
    if op == "fwd":
        return lambda: (F.conv2d(x, w, b, stride, padding),)
    leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]

    def forward_backward():
        y = F.conv2d(*leaves, stride, padding)
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
    shape, out_channels, kernel, stride = case
    return (f"conv2d {op} {shape_text(shape)}->{out_channels} k{kernel} s{stride} "
            f"p{kernel // 2}")


@pytest.mark.parametrize("case, op, column", _params())
def test_conv2d(benchmark, case, op, column):
    data = _inputs(case)
    if column == "torch":
        fn = _torch_op(op, data)
    else:
        fn = _array_op(op, data, "reference" if column == "numpy" else "numba")
    expected = _reference(case, op)

    def check(result):
        assert_all_close(result, expected, f"{column} {group_name(case, op)}",
                         rtol=1e-3, atol_scale=1e-4)

    shape, out_channels, kernel, stride = case
    interleave = None
    if column == "minidl" and kernel == 3 and stride == 1 and op == "fwd+bwd":
        # the PyTorch target's groups. Not against the NumPy reference: its matmul runs on
        # NumPy's OpenBLAS threads, which fight Numba's pool when the two alternate.
        interleave = {"torch": _torch_op(op, data) if optional_torch() else None}
    measure(benchmark, fn, family="conv2d", group=group_name(case, op), column=column,
            check=check, extra={"shape": list(shape), "out_channels": out_channels,
                                "kernel": kernel, "stride": stride, "op": op},
            interleave=interleave)
