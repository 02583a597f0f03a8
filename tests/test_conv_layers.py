"""Conv2d and pooling layers: shapes, PyTorch's defaults, and bad input."""
import math

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


def images(*shape, dtype=np.float32):
    return minidl.tensor(np.ones(shape, dtype))


def test_conv2d_shapes_and_state_dict():
    conv = nn.Conv2d(3, 8, kernel_size=(3, 5), stride=2, padding=(1, 2), bias=False)
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias is None
    assert list(conv.state_dict()) == ["weight"]
    assert conv(images(2, 3, 9, 10)).shape == (2, 8, 5, 5)
    grouped = nn.Conv2d(4, 6, 3, groups=2)
    assert grouped.weight.shape == (6, 2, 3, 3)
    assert grouped(images(1, 4, 5, 5)).shape == (1, 6, 3, 3)


def test_conv2d_default_init_is_pytorchs():
    minidl.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    assert bound * 0.98 < np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.bias.data).max() <= bound


def test_conv2d_wrong_channels():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16\): expected input of shape "
                                         r"\(N, 3, H, W\), got \(8, 1, 28, 28\)"):
        nn.Conv2d(3, 16, 3)(images(8, 1, 28, 28))


def test_conv2d_input_smaller_than_kernel():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 4\): the input of size \(4, 4\).*smaller "
                                         r"than the kernel of size \(5, 5\)"):
        nn.Conv2d(1, 4, 5)(images(2, 1, 4, 4))


def test_conv2d_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"groups=2 must divide both in_channels \(3\)"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv2d_bad_arguments():
    with pytest.raises(TypeError, match="kernel_size to be an int or a pair of ints"):
        nn.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="stride >= 1"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(TypeError, match=r"Conv2d\(1, 1\): expected input of dtype float32"):
        nn.Conv2d(1, 1, 3)(images(1, 1, 5, 5, dtype=np.float64))


def test_pooling_shapes():
    x = images(2, 3, 9, 8)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 5, 4)
    assert nn.AvgPool2d((3, 2))(x).shape == (2, 3, 3, 4)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    assert nn.AdaptiveAvgPool2d((3, None))(x).shape == (2, 3, 3, 8)


def test_max_pool_ties_go_to_the_first_maximum(kernel_set):
    x = minidl.tensor(np.ones((1, 1, 2, 2), np.float32), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 0], [0, 0]])


def test_pooling_padding_over_half_the_kernel():
    with pytest.raises(ValueError, match=r"MaxPool2d: padding should be at most half of the "
                                         r"kernel size, got padding \(2, 2\)"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match="at most half"):
        F.avg_pool2d(images(1, 1, 6, 6), 2, padding=2)


def test_pooling_input_smaller_than_window():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(3, 3\)\): the input of size "
                                         r"\(2, 2\)"):
        nn.MaxPool2d(3)(images(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), got \(4, 4\)"):
        nn.MaxPool2d(2)(images(4, 4))
