"""ops/shape.py: view/reshape, flatten, (un)squeeze, transpose/permute/T/t, expand, cat, stack."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf

SHAPE_OPS = {
    "view": lambda x: x.view(6, 4), "reshape": lambda x: x.reshape((-1, 3)),
    "view_as": lambda x: x.view_as(minidl.tensor(np.ones((4, 6)))),
    "flatten": lambda x: x.flatten(1), "unsqueeze": lambda x: x.unsqueeze(-1),
    "squeeze": lambda x: x.unsqueeze(0).squeeze(0), "transpose": lambda x: x.transpose(0, 2),
    "permute": lambda x: x.permute(2, 0, 1), "T": lambda x: x.T,
    "t": lambda x: x.flatten(1).t(),
    "expand": lambda x: x[:, :1].expand(5, 2, 3, 4), "expand_-1": lambda x: x.expand(-1, -1, -1),
    "expand_as": lambda x: x[:1].expand_as(minidl.tensor(np.ones((2, 3, 4)))),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_op_gradients(rng, name):
    check_gradients(SHAPE_OPS[name], [leaf(rng, 2, 3, 4)], rng)


def test_shape_op_values(rng):
    x = rng.standard_normal((2, 3, 4))
    t = minidl.tensor(x)
    np.testing.assert_array_equal(t.permute(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.T.data, x.T)
    np.testing.assert_array_equal(t.transpose(0, 1).data, x.swapaxes(0, 1))
    assert t.unsqueeze(1).shape == (2, 1, 3, 4)
    assert minidl.tensor(np.ones((1, 3, 1))).squeeze().shape == (3,)
    assert minidl.tensor(np.ones((1, 3, 1))).squeeze(-1).shape == (1, 3)
    assert minidl.tensor(np.ones((2, 3))).squeeze(0).shape == (2, 3)  # size 2: kept
    assert t[:, :1].expand(2, 3, -1).shape == (2, 3, 4)
    assert minidl.tensor(np.ones(3)).t().shape == (3,)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(rng, dim):
    a, b = leaf(rng, 2, 3), leaf(rng, 2, 3)
    np.testing.assert_array_equal(minidl.cat([a, b], dim).data,
                                  np.concatenate([a.data, b.data], dim))
    np.testing.assert_array_equal(minidl.stack((a, b), dim).data, np.stack([a.data, b.data], dim))
    check_gradients(lambda a, b: minidl.cat([a, b, a], dim=dim), [a, b], rng)
    check_gradients(lambda a, b: minidl.stack([a, b], dim=dim), [a, b], rng)
    check_gradients(lambda a, c: minidl.cat([a, c], dim=1), [a, leaf(rng, 2, 1)], rng)


def test_views_share_the_version_counter():
    x = minidl.tensor(np.ones((2, 3)))
    for view in (x.view(6), x.T, x.transpose(0, 1), x.unsqueeze(0), x.detach(), x[0],
                 x[:, 1:]):
        assert view._version is x._version
    assert x.reshape(6)._version is x._version
    assert x.T.reshape(6)._version is not x._version  # a copy, not a view


@pytest.mark.parametrize("bad, error, message", [
    (lambda t: t.view(5), ValueError, r"cannot reshape a tensor of shape \(2, 3\)"),
    (lambda t: t.view(2.5, 2), TypeError, "view: expected sizes as ints"),
    (lambda t: t.permute(0, 0), ValueError, "permute: expected an order of all 2"),
    (lambda t: t.transpose(0, 2), ValueError, "transpose: dim 2 is out of range"),
    (lambda t: t.expand(4, 3), ValueError, r"expand: the size 2 of shape \(2, 3\)"),
    (lambda t: t.expand(3), ValueError, "at least the number of dimensions"),
    (lambda t: t.flatten(1, 0), ValueError, "start_dim"),
    (lambda t: minidl.cat([t, minidl.tensor(np.ones((3, 3)))], 1), ValueError,
     r"cat: tensors must have the same shape except in dimension 1"),
    (lambda t: minidl.stack([t, t.T]), ValueError, "stack: expected tensors of one shape"),
    (lambda t: minidl.cat(t), TypeError, "cat: expected a list or tuple of Tensors"),
    (lambda t: minidl.stack([]), ValueError, "at least one tensor"),
    (lambda t: minidl.tensor(np.ones((2, 3, 4))).t(), ValueError, "t: expects a tensor of at"),
])
def test_bad_arguments_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        bad(minidl.tensor(np.ones((2, 3))))


def test_flatten_with_nothing_to_merge_returns_the_tensor_itself_as_pytorch():
    x = minidl.tensor(np.ones((4, 3)), requires_grad=True)
    assert x.flatten(1) is x and minidl.flatten(x, 0, 0) is x
    assert x.flatten().shape == (12,) and x.flatten()._version is x._version


def test_cat_and_stack_promote_dtypes_as_pytorch_and_return_each_gradient_in_its_dtype():
    a = minidl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = minidl.tensor(np.ones((1, 3)), requires_grad=True)
    joined = minidl.cat([a, b])
    assert joined.dtype == np.float64 and joined.shape == (3, 3)
    joined.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert minidl.stack([minidl.tensor(np.arange(2)), minidl.tensor(np.ones(2, np.float32))]
                        ).dtype == np.float32
