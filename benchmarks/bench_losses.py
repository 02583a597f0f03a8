"""Softmax + cross-entropy: per-sample losses and their gradient wrt the logits, in one call.

Shapes: the MNIST batches (60,10) and (64,10), and a large (4096,1000). Columns: the NumPy
reference, minidl's fused Numba kernel, PyTorch (F.cross_entropy with reduction='none', and
autograd for the gradient of each sample's loss: softmax - onehot).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from minidl.kernels import losses

from ._harness import COLUMNS, assert_all_close, case_id, measure, random_array, require_torch

CASES = [(60, 10), (64, 10), (4096, 1000)]


def _params():
    return [pytest.param(case, column, id=f"{case_id(case)}-{column}")
            for case in CASES for column in COLUMNS]


@functools.lru_cache(maxsize=None)
def _inputs(case):
    rows, classes = case
    target = np.random.default_rng(52).integers(0, classes, size=rows).astype(np.int64)
    return {"logits": random_array(case, 51) * 3.0, "target": target}


def _array_op(data, kernels):
    function = getattr(losses, f"softmax_cross_entropy_{kernels}")
    return lambda: tuple(function(data["logits"], data["target"]))  # (losses, grad_logits)


def _torch_op(data):
    torch = require_torch()
    F = torch.nn.functional
    leaf = torch.from_numpy(data["logits"]).clone().requires_grad_(True)
    target = torch.from_numpy(data["target"])
    ones = torch.ones(len(target))

    def forward_backward():
        per_sample = F.cross_entropy(leaf, target, reduction="none")
        per_sample.backward(ones)
        grad, leaf.grad = leaf.grad, None
        return per_sample.detach(), grad
    return forward_backward


@functools.lru_cache(maxsize=None)
def _reference(case):
    return _array_op(_inputs(case), "reference")()


@pytest.mark.parametrize("case, column", _params())
def test_softmax_cross_entropy(benchmark, case, column):
    data = _inputs(case)
    group = f"losses softmax+cross-entropy fwd+grad ({case[0]},{case[1]})"
    if column == "torch":
        fn = _torch_op(data)
    else:
        fn = _array_op(data, "reference" if column == "numpy" else "numba")
    expected = _reference(case)

    def check(result):
        assert_all_close(result, expected, f"{column} {group}", rtol=1e-4, atol_scale=1e-5)

    measure(benchmark, fn, family="losses", group=group, column=column, check=check,
            extra={"shape": list(case)})
