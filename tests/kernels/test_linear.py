"""Tests for minidl.kernels.linear: y = x W^T + b and its gradients, reference and Numba."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from minidl.kernels import linear

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

SHAPES = [  # (N, in_features, out_features)
    pytest.param((1, 5, 3), id="one-sample"),       # BLAS vector-matrix path
    pytest.param((7, 3, 1), id="one-output"),       # matrix-vector path; 7 rows split unevenly
    pytest.param((60, 784, 100), id="mnist-layer1"),
    pytest.param((0, 4, 3), id="empty-batch"),
]


@pytest.fixture(params=["serial", "parallel"])
def path(request, monkeypatch):
    """Send the Numba wrappers down their serial or their parallel kernel whatever the size."""
    threshold = 0 if request.param == "parallel" else 2**62
    monkeypatch.setattr(linear, "PARALLEL_MIN_MACS", threshold)
    return request.param


def make_inputs(shape, dtype, seed=0):
    """x (N, in), weight (out, in), bias (out,), grad_out (N, out), standard normal."""
    n, in_features, out_features = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, in_features)).astype(dtype)
    weight = rng.standard_normal((out_features, in_features)).astype(dtype)
    bias = rng.standard_normal(out_features).astype(dtype)
    grad_out = rng.standard_normal((n, out_features)).astype(dtype)
    return x, weight, bias, grad_out


def assert_sum_close(actual, expected, scale, dtype):
    """Compare sums of products: the rounding error of a sum scales with the sum of |terms|
    (`scale`, e.g. |x| @ |W|^T), not with the result, which may cancel to nearly zero."""
    assert actual.dtype == dtype
    assert actual.shape == expected.shape
    atol = RTOL[dtype] * float(np.max(scale, initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=atol)


def forward_scale(x, weight, bias):
    scale = np.abs(x).astype(np.float64) @ np.abs(weight).T.astype(np.float64)
    return scale if bias is None else scale + np.abs(bias)


def assert_backward_close(actual, expected, grad_out, x, weight, dtype):
    """Compare (grad_input, grad_weight, grad_bias) tuples, None where not requested."""
    grad_out64, x64, weight64 = (np.abs(a).astype(np.float64) for a in (grad_out, x, weight))
    scales = (grad_out64 @ weight64, grad_out64.T @ x64, grad_out64.sum(axis=0))
    for got, want, scale in zip(actual, expected, scales):
        if want is None:
            assert got is None
        else:
            assert_sum_close(got, want, scale, dtype)


# --- the references against independent formulas -------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_reference_matches_float64_einsum(dtype, with_bias):
    x, weight, bias, _ = make_inputs((9, 13, 6), dtype)
    bias = bias if with_bias else None
    expected = np.einsum("ni,oi->no", x.astype(np.float64), weight.astype(np.float64))
    if with_bias:
        expected += bias
    y = linear.linear_forward_reference(x, weight, bias)
    assert_sum_close(y, expected.astype(dtype), forward_scale(x, weight, bias), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_reference_matches_float64_einsum(dtype):
    x, weight, _, grad_out = make_inputs((9, 13, 6), dtype)
    x64, weight64, grad_out64 = (a.astype(np.float64) for a in (x, weight, grad_out))
    expected = (np.einsum("no,oi->ni", grad_out64, weight64).astype(dtype),
                np.einsum("no,ni->oi", grad_out64, x64).astype(dtype),
                np.einsum("no->o", grad_out64).astype(dtype))
    actual = linear.linear_backward_reference(grad_out, x, weight, True, True, True)
    assert_backward_close(actual, expected, grad_out, x, weight, dtype)


def test_backward_reference_matches_finite_differences():
    """For L = sum(grad_out * y), dL/dx, dL/dW, dL/db are the backward outputs; check each
    along a random direction with central differences (float64)."""
    x, weight, bias, grad_out = make_inputs((4, 5, 3), np.float64, seed=1)
    grads = linear.linear_backward_reference(grad_out, x, weight, True, True, True)

    def loss(x, weight, bias):
        return float(np.sum(grad_out * linear.linear_forward_reference(x, weight, bias)))

    rng = np.random.default_rng(2)
    step = 1e-6
    for index, grad in enumerate(grads):
        inputs = [x, weight, bias]
        direction = rng.standard_normal(inputs[index].shape)
        plus, minus = list(inputs), list(inputs)
        plus[index] = inputs[index] + step * direction
        minus[index] = inputs[index] - step * direction
        numeric = (loss(*plus) - loss(*minus)) / (2 * step)
        assert numeric == pytest.approx(float(np.sum(grad * direction)), rel=1e-7, abs=1e-9)


# --- Numba against the reference ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_numba_matches_reference(dtype, shape, with_bias, path):
    x, weight, bias, _ = make_inputs(shape, dtype)
    bias = bias if with_bias else None
    y = linear.linear_forward_numba(x, weight, bias)
    expected = linear.linear_forward_reference(x, weight, bias)
    assert_sum_close(y, expected, forward_scale(x, weight, bias), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_numba_matches_reference(dtype, shape, path):
    x, weight, _, grad_out = make_inputs(shape, dtype)
    actual = linear.linear_backward_numba(grad_out, x, weight, True, True, True)
    expected = linear.linear_backward_reference(grad_out, x, weight, True, True, True)
    assert_backward_close(actual, expected, grad_out, x, weight, np.dtype(dtype).type)


@pytest.mark.parametrize("flags", list(itertools.product([True, False], repeat=3)),
                         ids=lambda flags: "".join("1" if flag else "0" for flag in flags))
def test_backward_returns_only_requested_gradients(flags, path):
    x, weight, _, grad_out = make_inputs((7, 6, 5), np.float32)
    actual = linear.linear_backward_numba(grad_out, x, weight, *flags)
    expected = linear.linear_backward_reference(grad_out, x, weight, *flags)
    assert [a is None for a in actual] == [not flag for flag in flags]
    assert_backward_close(actual, expected, grad_out, x, weight, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype, path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 12)).astype(dtype).T                 # (12, 9) transposed view
    weight = rng.standard_normal((14, 18)).astype(dtype)[::2, ::2]   # (7, 9) strided
    bias = rng.standard_normal(14).astype(dtype)[::2]                # (7,) strided
    grad_out = np.asfortranarray(rng.standard_normal((12, 7)).astype(dtype))
    assert not any(a.flags.c_contiguous for a in (x, weight, bias, grad_out))

    y = linear.linear_forward_numba(x, weight, bias)
    expected = linear.linear_forward_reference(x, weight, bias)
    assert_sum_close(y, expected, forward_scale(x, weight, bias), dtype)
    actual = linear.linear_backward_numba(grad_out, x, weight, True, True, True)
    expected = linear.linear_backward_reference(grad_out, x, weight, True, True, True)
    assert_backward_close(actual, expected, grad_out, x, weight, np.dtype(dtype).type)


def test_big_problem_takes_parallel_path_and_matches():
    """No threshold override: a product above PARALLEL_MIN_MACS, as the wrappers pick it."""
    shape = (256, 128, 160)
    assert np.prod(shape) >= linear.PARALLEL_MIN_MACS
    x, weight, bias, grad_out = make_inputs(shape, np.float32)
    y = linear.linear_forward_numba(x, weight, bias)
    expected = linear.linear_forward_reference(x, weight, bias)
    assert_sum_close(y, expected, forward_scale(x, weight, bias), np.float32)
    actual = linear.linear_backward_numba(grad_out, x, weight, True, True, True)
    expected = linear.linear_backward_reference(grad_out, x, weight, True, True, True)
    assert_backward_close(actual, expected, grad_out, x, weight, np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_nan_and_inf_propagate(implementation, path):
    forward = getattr(linear, f"linear_forward_{implementation}")
    backward = getattr(linear, f"linear_backward_{implementation}")
    x, weight, bias, grad_out = make_inputs((6, 4, 5), np.float32)
    weight = np.abs(weight)   # positive weights: an inf input gives +inf, never inf - inf
    x[1, 2] = np.nan
    x[3, 0] = np.inf
    grad_out[2, 4] = np.nan

    y = forward(x, weight, bias)
    assert np.isnan(y[1]).all()
    assert np.isposinf(y[3]).all()
    assert np.isfinite(np.delete(y, [1, 3], axis=0)).all()

    grad_input, grad_weight, grad_bias = backward(grad_out, x, weight, True, True, True)
    assert np.isnan(grad_input[2]).all()
    assert np.isfinite(np.delete(grad_input, 2, axis=0)).all()
    assert np.isnan(grad_weight[4]).all()             # grad_out column 4 holds the NaN
    assert np.isnan(grad_weight[:, 2]).all()          # x column 2 holds a NaN
    assert np.isinf(grad_weight[:4, 0]).all()         # x column 0 holds the inf
    assert np.isnan(grad_bias[4]) and np.isfinite(grad_bias[:4]).all()


def test_kernel_table():
    assert linear.KERNELS == {
        "linear_forward": (linear.linear_forward_reference, linear.linear_forward_numba),
        "linear_backward": (linear.linear_backward_reference, linear.linear_backward_numba),
    }
