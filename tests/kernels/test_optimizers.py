"""Tests for minidl.kernels.optimizers: the in-place SGD step, reference and Numba."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.kernels import optimizers

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-12}

HYPERPARAMETERS = [  # (lr, momentum, dampening, weight_decay, nesterov)
    pytest.param((0.1, 0.0, 0.0, 0.0, False), id="plain"),
    pytest.param((0.1, 0.0, 0.0, 1e-2, False), id="weight_decay"),
    pytest.param((0.05, 0.9, 0.0, 0.0, False), id="momentum"),
    pytest.param((0.05, 0.9, 0.25, 1e-2, False), id="momentum-dampening-wd"),
    pytest.param((0.05, 0.9, 0.0, 1e-2, True), id="nesterov-wd"),
]

SHAPES = [(7,), (4, 6), (2, 3, 4, 5)]  # a bias, a Linear weight, a Conv2d weight


@pytest.fixture(params=["serial", "parallel"])
def path(request, monkeypatch):
    """Send sgd_step_numba down its serial or its parallel kernel whatever the size."""
    threshold = 0 if request.param == "parallel" else 2**62
    monkeypatch.setattr(optimizers, "PARALLEL_MIN_ELEMENTS", threshold)
    return request.param


def make_problem(shape, dtype, steps, seed=0):
    """A parameter and one gradient per step, standard normal."""
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]
    return param, grads


def run_steps(sgd_step, param, grads, hyperparameters):
    """Apply sgd_step once per gradient, seeding the buffer on the first step, as the
    optimizer does. Returns the (updated in place) param and momentum buffer."""
    lr, momentum, dampening, weight_decay, nesterov = hyperparameters
    momentum_buffer = np.zeros_like(param)
    for step, grad in enumerate(grads):
        sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, step == 0)
    return param, momentum_buffer


def sgd_scalar_loop(param, grads, lr, momentum, dampening, weight_decay, nesterov):
    """PyTorch's _single_tensor_sgd written out element by element in Python floats."""
    values = [float(v) for v in param.ravel()]
    buffers = [None] * len(values)
    for grad in grads:
        for i, g in enumerate(grad.ravel().tolist()):
            if weight_decay != 0:
                g = g + weight_decay * values[i]
            if momentum != 0:
                if buffers[i] is None:
                    buffers[i] = g
                else:
                    buffers[i] = momentum * buffers[i] + (1 - dampening) * g
                g = g + momentum * buffers[i] if nesterov else buffers[i]
            values[i] = values[i] - lr * g
    return np.array(values).reshape(param.shape), buffers


def assert_close(actual, expected, dtype):
    assert actual.dtype == dtype
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


# --- the reference against PyTorch's algorithm --------------------------------------------

@pytest.mark.parametrize("hyperparameters", HYPERPARAMETERS)
def test_reference_matches_scalar_loop(hyperparameters):
    param, grads = make_problem((3, 4), np.float64, steps=4)
    expected_param, expected_buffers = sgd_scalar_loop(param, grads, *hyperparameters)
    param, momentum_buffer = run_steps(optimizers.sgd_step_reference, param, grads,
                                       hyperparameters)
    assert_close(param, expected_param, np.float64)
    if hyperparameters[1] != 0:
        assert_close(momentum_buffer, np.reshape(expected_buffers, param.shape), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hyperparameters", HYPERPARAMETERS)
def test_numba_matches_torch(dtype, hyperparameters):
    torch = pytest.importorskip("torch")
    lr, momentum, dampening, weight_decay, nesterov = hyperparameters
    param, grads = make_problem((2, 3, 4, 5), dtype, steps=4)
    weight = torch.nn.Parameter(torch.tensor(param))
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum, dampening=dampening,
                                weight_decay=weight_decay, nesterov=nesterov)
    for grad in grads:
        weight.grad = torch.tensor(grad)
        optimizer.step()
    param, momentum_buffer = run_steps(optimizers.sgd_step_numba, param, grads,
                                       hyperparameters)
    assert_close(param, weight.detach().numpy(), dtype)
    if momentum != 0:
        assert_close(momentum_buffer, optimizer.state[weight]["momentum_buffer"].numpy(), dtype)


# --- Numba against the reference ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("hyperparameters", HYPERPARAMETERS)
def test_numba_matches_reference(dtype, shape, hyperparameters, path):
    param, grads = make_problem(shape, dtype, steps=3)
    expected = run_steps(optimizers.sgd_step_reference, param.copy(), grads, hyperparameters)
    actual = run_steps(optimizers.sgd_step_numba, param.copy(), grads, hyperparameters)
    for got, want in zip(actual, expected):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_big_parameter_takes_parallel_path_and_matches(dtype):
    """No threshold override: a parameter above PARALLEL_MIN_ELEMENTS, as the wrapper picks it,
    and not a multiple of the inner chunk."""
    shape = (123, 300)
    assert np.prod(shape) >= optimizers.PARALLEL_MIN_ELEMENTS
    param, grads = make_problem(shape, dtype, steps=2)
    hyperparameters = (0.05, 0.9, 0.0, 1e-2, True)
    expected = run_steps(optimizers.sgd_step_reference, param.copy(), grads, hyperparameters)
    actual = run_steps(optimizers.sgd_step_numba, param.copy(), grads, hyperparameters)
    for got, want in zip(actual, expected):
        assert_close(got, want, dtype)


# --- semantics ----------------------------------------------------------------------------

@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_updates_param_and_buffer_in_place(implementation, path):
    sgd_step = getattr(optimizers, f"sgd_step_{implementation}")
    param, (grad,) = make_problem((2, 3, 4, 5), np.float32, steps=1)
    momentum_buffer = np.zeros_like(param)
    param_view, buffer_view = param[1], momentum_buffer[1]   # views taken before the step
    expected_param = param - np.float32(0.1) * grad           # first step: buffer = grad
    result = sgd_step(param, grad, momentum_buffer, 0.1, 0.9, 0.0, 0.0, False, True)
    assert result is None
    np.testing.assert_allclose(param, expected_param, rtol=1e-6)
    np.testing.assert_array_equal(momentum_buffer, grad)
    np.testing.assert_array_equal(param_view, param[1])
    np.testing.assert_array_equal(buffer_view, grad[1])


@pytest.mark.parametrize("implementation", ["reference", "numba"])
@pytest.mark.parametrize("first_step", [True, False])
def test_zero_momentum_leaves_buffer_untouched(implementation, first_step, path):
    sgd_step = getattr(optimizers, f"sgd_step_{implementation}")
    param, (grad,) = make_problem((4, 6), np.float32, steps=1)
    momentum_buffer = np.full_like(param, 7.0)
    sgd_step(param, grad, momentum_buffer, 0.1, 0.0, 0.0, 1e-2, False, first_step)
    assert (momentum_buffer == 7.0).all()


def test_zero_momentum_accepts_any_buffer():
    """With momentum == 0 the buffer argument is not used, whatever its shape or dtype."""
    param, (grad,) = make_problem((4, 6), np.float32, steps=1)
    expected = param.copy()
    optimizers.sgd_step_reference(expected, grad, None, 0.1, 0.0, 0.0, 0.0, False, True)
    placeholder = np.empty(0, dtype=np.float64)
    optimizers.sgd_step_numba(param, grad, placeholder, 0.1, 0.0, 0.0, 0.0, False, True)
    assert_close(param, expected, np.float32)
    assert placeholder.shape == (0,)


@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_first_step_seeds_buffer_without_reading_it(implementation, path):
    """PyTorch clones the gradient into a new buffer: stale contents (here NaN) never leak."""
    sgd_step = getattr(optimizers, f"sgd_step_{implementation}")
    param, (grad,) = make_problem((7,), np.float64, steps=1)
    momentum_buffer = np.full_like(param, np.nan)
    expected = param - 0.1 * (1 + 0.9) * grad  # nesterov, first step: g + momentum * g
    sgd_step(param, grad, momentum_buffer, 0.1, 0.9, 0.5, 0.0, True, True)
    np.testing.assert_array_equal(momentum_buffer, grad)  # no dampening on the first step
    np.testing.assert_allclose(param, expected, rtol=1e-14)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_nan_and_inf_propagate(implementation, path):
    sgd_step = getattr(optimizers, f"sgd_step_{implementation}")
    param, (grad,) = make_problem((7,), np.float32, steps=1)
    grad[1] = np.nan
    param[3] = np.inf
    momentum_buffer = np.zeros_like(param)
    sgd_step(param, grad, momentum_buffer, 0.1, 0.9, 0.0, 0.0, False, True)
    assert np.isnan(param[1]) and np.isnan(momentum_buffer[1])
    # Without weight decay an infinite parameter stays infinite (0 * inf would give NaN).
    assert np.isposinf(param[3]) and np.isfinite(momentum_buffer[3])
    others = [0, 2, 4, 5, 6]
    assert np.isfinite(param[others]).all() and np.isfinite(momentum_buffer[others]).all()

    # With weight decay the inf enters the gradient: inf - lr * inf is NaN, as in PyTorch.
    sgd_step(param, np.zeros_like(param), momentum_buffer, 0.1, 0.9, 0.0, 1e-2, False, False)
    assert np.isnan(param[3]) and np.isposinf(momentum_buffer[3])


def test_kernel_sees_hyperparameters_in_param_dtype():
    """No float64 promotion: every compiled signature has scalars of its arrays' dtype."""
    param, (grad,) = make_problem((5,), np.float32, steps=1)
    optimizers.sgd_step_numba(param, grad, np.zeros_like(param), 0.1, 0.9, 0.0, 1e-4, True,
                              False)
    signatures = getattr(optimizers._sgd_step_range, "signatures", None)
    if signatures is None:
        pytest.skip("NUMBA_DISABLE_JIT: no compiled signatures")
    assert signatures
    for signature in signatures:
        # (param, grad, buffer, hyperparameters, ...): lr, momentum, 1 - dampening and
        # weight_decay travel as one array, which must have the parameters' dtype
        array_dtype = signature[0].dtype
        assert signature[3].dtype == array_dtype, signature


def test_kernel_table():
    assert optimizers.KERNELS["sgd_step"] == (optimizers.sgd_step_reference,
                                              optimizers.sgd_step_numba)
