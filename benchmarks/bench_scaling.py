"""Thread scaling: BatchNorm2d and Conv2d forward+backward with 1, 2, ... available cores.

minidl.set_num_threads(t) (Numba's pool and NumPy's BLAS) and torch.set_num_threads(t) for
each t; one group per op and thread count, columns minidl and torch. The report shows each
column's speed-up over its own 1-thread time.
"""
from __future__ import annotations

import pytest

from . import _env, bench_batchnorm, bench_conv
from ._harness import assert_all_close, measure, require_torch, shape_text

BN_SHAPE = (64, 64, 32, 32)
CONV_CASE = ((64, 32, 16, 16), 64, 3, 1)
THREAD_COUNTS = list(range(1, _env.available_cpus() + 1))
OPS = ("batchnorm2d fwd+bwd", "conv2d fwd+bwd")


def _function(op, column):
    if op.startswith("batchnorm"):
        data = bench_batchnorm._inputs(BN_SHAPE)
        if column == "torch":
            return bench_batchnorm._torch_op("fwd+bwd", data)
        return bench_batchnorm._array_op("fwd+bwd", data, "numba")
    data = bench_conv._inputs(CONV_CASE)
    if column == "torch":
        return bench_conv._torch_op("fwd+bwd", data)
    return bench_conv._array_op("fwd+bwd", data, "numba")


def _expected(op):
    if op.startswith("batchnorm"):
        expected = bench_batchnorm._reference(BN_SHAPE, "fwd+bwd")
        flat = bench_batchnorm._inputs(BN_SHAPE)["x3d"].shape
        return expected, flat
    return bench_conv._reference(CONV_CASE, "fwd+bwd"), None


@pytest.mark.parametrize("op, threads, column",
                         [pytest.param(op, threads, column, id=f"{op}-t{threads}-{column}")
                          for op in OPS for threads in THREAD_COUNTS
                          for column in ("minidl", "torch")])
def test_scaling(benchmark, op, threads, column):
    if column == "torch":
        require_torch()
    _env.set_threads(threads)  # the autouse fixture restores the suite's count afterwards
    fn = _function(op, column)
    expected, flat_shape = _expected(op)

    def check(result):
        result = [r.detach().numpy() if hasattr(r, "detach") else r for r in result]
        if flat_shape is not None:
            result = [r.reshape(flat_shape) if r.ndim >= 2 else r for r in result]
        assert_all_close(result, expected, f"{column} {op} threads={threads}",
                         rtol=1e-3, atol_scale=1e-4)

    shape = BN_SHAPE if op.startswith("batchnorm") else CONV_CASE[0]
    measure(benchmark, fn, family="scaling",
            group=f"scaling {op} {shape_text(shape)} threads={threads}", column=column,
            check=check, extra={"op": op, "scaling_threads": threads})
