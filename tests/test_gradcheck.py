"""Every Function's backward against float64 central differences, under both kernel sets."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn

from .gradcheck import check_gradients


def leaf(rng, *shape, scale=1.0, shift=0.0):
    return minidl.tensor(shift + scale * rng.standard_normal(shape), requires_grad=True)


def test_linear(kernel_set, rng):
    check_gradients(F.linear, [leaf(rng, 5, 4), leaf(rng, 3, 4), leaf(rng, 3)], rng)


def test_linear_without_bias_and_with_leading_dims(kernel_set, rng):
    check_gradients(lambda x, w: F.linear(x, w), [leaf(rng, 2, 5, 4), leaf(rng, 3, 4)], rng)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_batch_norm_training(kernel_set, rng, shape):
    channels = shape[1]
    x = leaf(rng, *shape, scale=2.0, shift=3.0)
    check_gradients(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                    [x, leaf(rng, channels), leaf(rng, channels)], rng)


def test_batch_norm_eval(kernel_set, rng):
    mean = minidl.tensor(rng.standard_normal(3))
    var = minidl.tensor(rng.uniform(0.5, 2.0, 3))
    check_gradients(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False),
                    [leaf(rng, 4, 3, 5), leaf(rng, 3), leaf(rng, 3)], rng)


def test_batch_norm_relu_fused(kernel_set, rng):
    check_gradients(lambda x, w, b: F.batch_norm_relu(x, None, None, w, b, training=True),
                    [leaf(rng, 4, 3, 5), leaf(rng, 3), leaf(rng, 3)], rng)


@pytest.mark.parametrize("function", [
    F.sigmoid, F.tanh, lambda x: F.elu(x, 0.7), lambda x: F.leaky_relu(x, 0.1), F.relu])
def test_activations(kernel_set, rng, function):
    x = leaf(rng, 4, 7)
    x.data[np.abs(x.data) < 1e-3] = 0.5  # keep away from the kinks of relu-like functions
    check_gradients(function, [x], rng)


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_softmax_and_log_softmax(kernel_set, rng, dim):
    check_gradients(lambda x: F.softmax(x, dim), [leaf(rng, 3, 5, 2)], rng)
    check_gradients(lambda x: F.log_softmax(x, dim), [leaf(rng, 3, 5, 2)], rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(kernel_set, rng, reduction):
    target = rng.integers(0, 5, size=6)
    check_gradients(lambda x: F.cross_entropy(x, target, reduction=reduction),
                    [leaf(rng, 6, 5, scale=3.0)], rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(kernel_set, rng, reduction):
    check_gradients(lambda x, t: F.mse_loss(x, t, reduction=reduction),
                    [leaf(rng, 4, 3), leaf(rng, 4, 3)], rng)


def test_tensor_arithmetic(rng):
    def expression(a, b):
        return ((a * b - a) * 3.0 + b).reshape(6, 2).flatten().sum() - (a.mean(dim=1) * 2).sum()
    check_gradients(expression, [leaf(rng, 3, 4), leaf(rng, 3, 4)], rng)


def test_whole_network_double(kernel_set, rng):
    """A small BN network converted with .double(): gradients of every parameter."""
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Sigmoid(), nn.Linear(5, 3),
                          nn.Tanh()).double()
    params = list(model.parameters())
    x = minidl.tensor(rng.standard_normal((8, 6)))
    target = rng.integers(0, 3, size=8)

    def loss(*_):
        # BatchNorm in training mode updates running stats on every call: irrelevant here
        return F.cross_entropy(model(x), target)

    check_gradients(loss, params, rng)
