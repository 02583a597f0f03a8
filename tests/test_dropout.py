"""Dropout: inverted scaling in training, identity in eval, seeded by minidl.manual_seed."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


def test_training_drops_about_p_and_keeps_the_expectation(kernel_set):
    minidl.manual_seed(0)
    x = minidl.tensor(np.ones((200, 500), np.float32))
    y = nn.Dropout(0.3)(x).data
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.02)


def test_eval_mode_and_p_zero_are_the_identity():
    x = minidl.tensor(np.ones((4, 4), np.float32))
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0) is x


def test_p_one_zeroes_everything():
    y = F.dropout(minidl.tensor(np.ones((3, 3), np.float32)), 1.0)
    np.testing.assert_array_equal(y.data, 0)


def test_gradient_uses_the_same_mask(kernel_set):
    minidl.manual_seed(1)
    x = minidl.tensor(np.ones((10, 10), np.float32), requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)


def test_manual_seed_reproduces_the_mask():
    x = minidl.tensor(np.ones((8, 8), np.float32))
    minidl.manual_seed(5)
    first = F.dropout(x, 0.5).data
    minidl.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, first)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_out_of_range(p):
    with pytest.raises(ValueError, match=rf"Dropout: expected p in \[0, 1\], got {p}"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout: expected p in"):
        F.dropout(minidl.tensor(np.ones(2, np.float32)), p)
