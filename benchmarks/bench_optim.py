"""Optimizer steps: SGD with momentum and Adam over ~100K and ~1M parameters.

The parameters are the tensors of an MLP (784-128-10: 101,770 values in 4 tensors;
784-1024-256-10: 1,068,810 values in 6 tensors), each with a gradient. One benchmark call is
one `optimizer.step()`. Columns: minidl's optimizer on the NumPy reference kernels
(use_kernels("numpy")), on the Numba kernels, torch.optim (its CPU default: a loop over the
tensors), and the copy probe of an array holding all the parameters (SGD with momentum reads
3 and writes 2 such arrays, Adam reads 4 and writes 3).
Each column first takes 3 steps from the same state and must reach the reference's values.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import minidl

from ._harness import COLUMNS, assert_all_close, case_id, measure, random_array, require_torch
from ._probe import check_copy, copy_probe

SIZES = {
    "100K": [(128, 784), (128,), (10, 128), (10,)],
    "1M": [(1024, 784), (1024,), (256, 1024), (256,), (10, 256), (10,)],
}
OPTIMIZERS = {
    "SGD momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
    "Adam": ("Adam", dict(lr=1e-3)),
}
CHECK_STEPS = 3
CASES = [(name, size) for name in OPTIMIZERS for size in SIZES]


def _params():
    return [pytest.param(case, column, id=f"{case_id(case)}-{column}")
            for case in CASES for column in COLUMNS + ("copy",)]


@functools.lru_cache(maxsize=None)
def _state(size):
    shapes = SIZES[size]
    params = [random_array(shape, 60 + index) * 0.05 for index, shape in enumerate(shapes)]
    grads = [random_array(shape, 80 + index) * 0.01 for index, shape in enumerate(shapes)]
    return params, grads


def _minidl_optimizer(case, kernels):
    name, size = case
    class_name, hyper = OPTIMIZERS[name]
    params0, grads = _state(size)
    params = [minidl.nn.Parameter(p.copy()) for p in params0]
    for param, grad in zip(params, grads):
        param.grad = minidl.tensor(grad)
    optimizer = getattr(minidl.optim, class_name)(params, **hyper)

    def step():
        with minidl.use_kernels(kernels):
            optimizer.step()
        return params
    return step, lambda: [p.data for p in params]


def _torch_optimizer(case):
    torch = require_torch()
    name, size = case
    class_name, hyper = OPTIMIZERS[name]
    params0, grads = _state(size)
    params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    for param, grad in zip(params, grads):
        param.grad = torch.from_numpy(grad)
    optimizer = getattr(torch.optim, class_name)(params, **hyper)

    def step():
        optimizer.step()
        return params
    return step, lambda: [p.detach().numpy() for p in params]


@functools.lru_cache(maxsize=None)
def _reference(case):
    step, values = _minidl_optimizer(case, "numpy")
    for _ in range(CHECK_STEPS):
        step()
    return [v.copy() for v in values()]


@pytest.mark.parametrize("case, column", _params())
def test_optimizer_step(benchmark, case, column):
    name, size = case
    group = f"optim {name} step {size} params"
    total = sum(int(np.prod(shape)) for shape in SIZES[size])
    extra = {"parameters": total, "optimizer": name, "memory_bound": True}
    if column == "copy":
        source = random_array(total, 99)
        measure(benchmark, lambda: copy_probe(source), family="optim", group=group,
                column="copy", check=check_copy(source), extra=extra)
        return
    if column == "torch":
        step, values = _torch_optimizer(case)
    else:
        step, values = _minidl_optimizer(case, "numpy" if column == "numpy" else "numba")
    for _ in range(CHECK_STEPS):  # from the same state as the reference: same values
        step()
    assert_all_close(values(), _reference(case), f"{column} {group}", rtol=1e-5,
                     atol_scale=1e-6)
    measure(benchmark, step, family="optim", group=group, column=column, extra=extra)
