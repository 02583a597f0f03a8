"""nn.init: PyTorch's gains, fans and distributions; default layer initialisation."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import init


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'softplus'"):
        init.calculate_gain("softplus")


def empty(*shape):
    return nn.Parameter(np.empty(shape, np.float32))


def test_uniform_bounds_match_the_formulas():
    minidl.manual_seed(0)
    w = init.xavier_uniform_(empty(300, 200), gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.98 * bound
    w = init.kaiming_uniform_(empty(300, 200, 3, 3), mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / (300 * 9))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.98 * bound


def test_normal_std_matches_the_formulas():
    minidl.manual_seed(0)
    w = init.kaiming_normal_(empty(400, 500), nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    w = init.xavier_normal_(empty(400, 500))
    assert w.data.std() == pytest.approx(math.sqrt(2 / 900), rel=0.02)
    w = init.normal_(empty(1000), mean=3.0, std=0.5)
    assert w.data.mean() == pytest.approx(3.0, abs=0.05)


def test_constants():
    assert (init.ones_(empty(3)).data == 1).all()
    assert (init.zeros_(empty(3)).data == 0).all()
    assert (init.constant_(empty(3), 0.25).data == 0.25).all()


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(empty(5))


def test_linear_default_init_is_pytorchs():
    minidl.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) reduces to this
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.99 * bound
    assert np.abs(layer.bias.data).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_manual_seed_reproduces_weights():
    minidl.manual_seed(7)
    a = nn.Linear(5, 5).weight.data.copy()
    minidl.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(5, 5).weight.data, a)
    with pytest.raises(ValueError, match="non-negative integer"):
        minidl.manual_seed(-1)
