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


@pytest.mark.parametrize("options", [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=(2, 1), dilation=2),
    dict(stride=(1, 2), groups=2),
])
def test_conv2d(kernel_set, rng, options):
    groups = options.get("groups", 1)
    x, w, b = leaf(rng, 2, 4, 7, 6), leaf(rng, 6, 4 // groups, 3, 2), leaf(rng, 6)
    check_gradients(lambda x, w, b: F.conv2d(x, w, b, **options), [x, w, b], rng)


@pytest.mark.parametrize("function", [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, 1),
    lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
])
def test_pooling(kernel_set, rng, function):
    # distinct values, so max pooling has no ties for the finite differences to straddle
    x = minidl.tensor(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0,
                      requires_grad=True)
    check_gradients(function, [x], rng, eps=1e-4)


def test_small_cnn_double(kernel_set, rng):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4)).double()
    x = minidl.tensor(rng.standard_normal((5, 1, 6, 6)))
    target = rng.integers(0, 4, size=5)
    check_gradients(lambda *_: F.cross_entropy(model(x), target), list(model.parameters()), rng)
