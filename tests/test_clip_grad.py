"""nn.utils.clip_grad_norm_ and clip_grad_value_, against NumPy computations of PyTorch's
formulas: total norm of all gradients as one vector, scale max_norm / (norm + 1e-6) if < 1."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
from minidl import nn


def parameters_with_grads(*arrays):
    params = []
    for array in arrays:
        param = nn.Parameter(np.zeros(array.shape, array.dtype))
        param.grad = minidl.tensor(array)
        params.append(param)
    return params


def random_grads(dtype=np.float32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=5).astype(dtype)


def test_reachable_under_pytorchs_names():
    assert minidl.nn.utils.clip_grad_norm_ is nn.utils.clip_grad.clip_grad_norm_
    from minidl.nn.utils import clip_grad_value_  # noqa: F401


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before():
    first, second = random_grads()
    params = parameters_with_grads(first, second)
    expected_norm = math.sqrt((first.astype(np.float64) ** 2).sum()
                              + (second.astype(np.float64) ** 2).sum())
    total = nn.utils.clip_grad_norm_(params, max_norm=0.5)
    assert isinstance(total, minidl.Tensor) and total.shape == () and total.dtype == np.float32
    assert total.item() == pytest.approx(expected_norm, rel=1e-7)
    scale = np.float32(0.5 / (expected_norm + 1e-6))
    np.testing.assert_allclose(params[0].grad.data, first * scale, rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.data, second * scale, rtol=1e-6)
    assert params[0].grad.data.dtype == np.float32
    after = nn.utils.clip_grad_norm_(params, max_norm=0.5)
    assert after.item() == pytest.approx(0.5, rel=1e-5)


def test_gradients_under_max_norm_are_left_exactly_as_they_are():
    first, second = random_grads()
    params = parameters_with_grads(first, second)
    nn.utils.clip_grad_norm_(params, max_norm=100.0)
    np.testing.assert_array_equal(params[0].grad.data, first)
    np.testing.assert_array_equal(params[1].grad.data, second)


@pytest.mark.parametrize("norm_type, reference", [
    (1.0, lambda g: np.abs(g).sum()),
    (3.0, lambda g: (np.abs(g) ** 3).sum() ** (1 / 3)),
    (math.inf, lambda g: np.abs(g).max()),
    ("inf", lambda g: np.abs(g).max()),
])
def test_other_norm_types(norm_type, reference):
    first, second = random_grads(np.float64)
    params = parameters_with_grads(first, second)
    everything = np.concatenate([first.ravel(), second.ravel()])
    total = nn.utils.clip_grad_norm_(params, max_norm=0.1, norm_type=norm_type)
    assert total.dtype == np.float64
    assert total.item() == pytest.approx(reference(everything), rel=1e-12)
    np.testing.assert_allclose(params[1].grad.data,
                               second * 0.1 / (reference(everything) + 1e-6), rtol=1e-12)


def test_parameters_without_gradients_and_single_tensors():
    first, _ = random_grads()
    with_grad, without = parameters_with_grads(first)[0], nn.Parameter(np.ones(2, np.float32))
    model_like = iter([without, with_grad])  # a generator, as model.parameters() is
    total = nn.utils.clip_grad_norm_(model_like, 1.0)
    assert total.item() == pytest.approx(np.linalg.norm(first.astype(np.float64)), rel=1e-7)
    assert without.grad is None
    single = parameters_with_grads(np.array([3.0, 4.0], np.float32))[0]
    assert nn.utils.clip_grad_norm_(single, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(single.grad.data, [0.6, 0.8], rtol=1e-6)
    assert nn.utils.clip_grad_norm_([without], 1.0).item() == 0.0


def test_a_model_trains_with_clipping():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    inputs = minidl.tensor(np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(model(inputs), np.arange(16) % 2)
    loss.backward()
    grads = [p.grad.data.astype(np.float64) for p in model.parameters()]
    norm = math.sqrt(sum((g ** 2).sum() for g in grads))
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=norm / 2)
    assert total.item() == pytest.approx(norm, rel=1e-6)
    clipped = math.sqrt(sum((p.grad.data.astype(np.float64) ** 2).sum()
                            for p in model.parameters()))
    assert clipped == pytest.approx(norm / 2, rel=1e-5)


def test_non_finite_norms():
    grads = np.array([1.0, np.nan], np.float32), np.array([2.0], np.float32)
    params = parameters_with_grads(*grads)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[1].grad.data, [2.0])  # nothing changed
    total = nn.utils.clip_grad_norm_(params, 1.0)  # PyTorch's default: scaled by NaN
    assert math.isnan(total.item()) and np.isnan(params[1].grad.data).all()


def test_clip_grad_norm_refuses_bad_input():
    params = parameters_with_grads(np.ones(2, np.float32))
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="max_norm >= 0"):
            nn.utils.clip_grad_norm_(params, bad)
    with pytest.raises(TypeError, match="max_norm to be a number"):
        nn.utils.clip_grad_norm_(params, "1")
    for bad in (0, -2.0):
        with pytest.raises(ValueError, match="norm_type > 0"):
            nn.utils.clip_grad_norm_(params, 1.0, norm_type=bad)
    with pytest.raises(TypeError, match="norm_type"):
        nn.utils.clip_grad_norm_(params, 1.0, norm_type="two")
    with pytest.raises(TypeError, match="ndarray at position 1"):
        nn.utils.clip_grad_norm_([params[0], np.ones(2)], 1.0)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nn.utils.clip_grad_norm_(3.0, 1.0)
    with pytest.raises(TypeError, match="error_if_nonfinite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=1)
    params[0].grad.data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nn.utils.clip_grad_norm_(params, 1.0)


def test_clip_grad_value_clamps_in_place():
    first, second = random_grads()
    params = parameters_with_grads(first, second)
    assert nn.utils.clip_grad_value_(params, 0.5) is None
    np.testing.assert_array_equal(params[0].grad.data, np.clip(first, -0.5, 0.5))
    np.testing.assert_array_equal(params[1].grad.data, np.clip(second, -0.5, 0.5))
    with pytest.raises(ValueError, match="clip_value >= 0"):
        nn.utils.clip_grad_value_(params, -0.1)
    with pytest.raises(TypeError, match="clip_value to be a number"):
        nn.utils.clip_grad_value_(params, None)
