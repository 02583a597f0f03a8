"""adam_step and adagrad_step: Numba kernels equal the NumPy references, which equal a
scalar transcription of PyTorch's algorithms."""
import math

import numpy as np
import pytest

from minidl.kernels import optimizers
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS

SHAPES = [(7,), (5, 3, 2, 2), (PARALLEL_MIN_ELEMENTS + 5,)]


def adam_scalar(p, g, m, v, vmax, lr, b1, b2, eps, wd, decoupled, amsgrad, t):
    """PyTorch's _single_tensor_adam for one float64 element."""
    if wd:
        if decoupled:
            p *= 1 - lr * wd
        else:
            g = g + wd * p
    m = m + (1 - b1) * (g - m)
    v = b2 * v + (1 - b2) * g * g
    if amsgrad:
        vmax = max(vmax, v)
    denom = math.sqrt(vmax if amsgrad else v) / math.sqrt(1 - b2 ** t) + eps
    return p - lr / (1 - b1 ** t) * m / denom, m, v, vmax


@pytest.mark.parametrize("decoupled, amsgrad, wd", [(False, False, 0.0), (False, True, 0.1),
                                                    (True, False, 0.1), (True, True, 0.01)])
def test_adam_reference_follows_pytorchs_algorithm(rng, decoupled, amsgrad, wd):
    p, state = rng.standard_normal(6), np.zeros((3, 6))
    expected = [list(p), *state.tolist()]
    for t in range(1, 4):
        g = rng.standard_normal(6)
        optimizers.adam_step_reference(p, g, state[0], state[1], state[2], 0.01, 0.9, 0.99,
                                       1e-8, wd, decoupled, amsgrad, t)
        expected = [list(e) for e in zip(*[adam_scalar(*args, 0.01, 0.9, 0.99, 1e-8, wd,
                                                       decoupled, amsgrad, t)
                                          for args in zip(expected[0], g, *expected[1:])])]
        np.testing.assert_allclose(p, expected[0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("decoupled, amsgrad", [(False, True), (True, False)])
def test_adam_numba_equals_reference(rng, dtype, shape, decoupled, amsgrad):
    arrays = {}
    for name in ("reference", "numba"):
        local = np.random.default_rng(1)
        p = local.standard_normal(shape).astype(dtype)
        m, v, vmax = (np.zeros(shape, dtype) for _ in range(3))
        step = getattr(optimizers, f"adam_step_{name}")
        for t in range(1, 4):
            g = local.standard_normal(shape).astype(dtype)
            step(p, g, m, v, vmax, 1e-2, 0.9, 0.999, 1e-8, 0.05, decoupled, amsgrad, t)
        arrays[name] = (p, m, v, vmax)
        assert p.dtype == dtype
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    for fast, reference in zip(arrays["numba"], arrays["reference"]):
        np.testing.assert_allclose(fast, reference, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_adagrad_numba_equals_reference(rng, dtype, shape):
    arrays = {}
    for name in ("reference", "numba"):
        local = np.random.default_rng(2)
        p = local.standard_normal(shape).astype(dtype)
        state_sum = np.full(shape, 0.1, dtype)
        step = getattr(optimizers, f"adagrad_step_{name}")
        for t in range(1, 4):
            step(p, local.standard_normal(shape).astype(dtype), state_sum,
                 0.05 / (1 + (t - 1) * 0.01), 1e-3, 1e-10)
        arrays[name] = (p, state_sum)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    for fast, reference in zip(arrays["numba"], arrays["reference"]):
        np.testing.assert_allclose(fast, reference, rtol=rtol, atol=rtol)


def test_adagrad_reference_formula():
    p, g, s = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([0.1, 0.0])
    optimizers.adagrad_step_reference(p, g, s, 0.1, 0.0, 1e-10)
    np.testing.assert_allclose(s, [0.35, 0.0625])
    np.testing.assert_allclose(p, [1 - 0.1 * 0.5 / (math.sqrt(0.35) + 1e-10),
                                   -2 - 0.1 * 0.25 / (0.25 + 1e-10)])


def test_nan_gradient_propagates():
    for name in ("reference", "numba"):
        p, g = np.ones(4, np.float32), np.array([0, np.nan, 1, 2], np.float32)
        m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
        getattr(optimizers, f"adam_step_{name}")(p, g, m, v, v, 1e-3, 0.9, 0.999, 1e-8, 0.0,
                                                 False, False, 1)
        assert np.isnan(p[1]) and np.isfinite(p[[0, 2, 3]]).all()
