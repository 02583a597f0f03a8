"""ops/reductions.py: sum, mean, max/min (values and indices), argmax/argmin, var/std,
logsumexp: values against NumPy, float64 gradient checks, dtypes and errors."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf

DIMS = [None, 0, 1, -1, (0, 2)]


@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "logsumexp"])
def test_reduction_gradients(rng, name, dim, keepdim):
    if name == "logsumexp" and dim is None:
        dim = (0, 1, 2)  # torch.logsumexp needs dim
    check_gradients(lambda x: getattr(x, name)(dim=dim, keepdim=keepdim), [leaf(rng, 2, 3, 4)],
                    rng)


def test_reduction_values_match_numpy(rng):
    x = rng.standard_normal((2, 3, 4))
    t = minidl.tensor(x)
    np.testing.assert_allclose(t.sum(dim=(0, 2)).data, x.sum(axis=(0, 2)))
    np.testing.assert_allclose(t.mean(1, keepdim=True).data, x.mean(1, keepdims=True))
    np.testing.assert_allclose(t.var().data, x.var(ddof=1))           # unbiased by default
    np.testing.assert_allclose(t.var(1, unbiased=False).data, x.var(1))
    np.testing.assert_allclose(t.std(dim=0, correction=0).data, x.std(0))
    np.testing.assert_allclose(t.std(correction=2).data, np.sqrt(x.var(ddof=2)))
    np.testing.assert_allclose(minidl.logsumexp(t, 1).data, np.log(np.exp(x).sum(1)))


def test_logsumexp_does_not_overflow():
    t = minidl.tensor(np.array([[1000.0, 1000.0], [-np.inf, -np.inf]]))
    np.testing.assert_allclose(t.logsumexp(1).data, [1000.0 + np.log(2), -np.inf])


def test_max_and_min_with_dim_return_values_and_indices(rng):
    x = leaf(rng, 3, 5)
    result = x.max(1)
    values, indices = result  # unpacks, as torch.max(x, dim)
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.data, x.data.max(1))
    np.testing.assert_array_equal(indices.data, x.data.argmax(1))
    assert indices.dtype == np.int64 and not indices.requires_grad
    low = minidl.min(x, dim=0, keepdim=True)
    assert low.values.shape == (1, 5) and low.indices.shape == (1, 5)
    check_gradients(lambda x: x.max(1).values, [x], rng)
    check_gradients(lambda x: x.min(0, keepdim=True).values, [x], rng)
    check_gradients(lambda x: x.max(), [x], rng)


def test_max_of_all_shares_the_gradient_among_ties_as_pytorch():
    x = minidl.tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])


def test_argmax_argmin(rng):
    x = rng.standard_normal((3, 4))
    t = minidl.tensor(x)
    assert t.argmax().item() == x.argmax() and t.argmax().dtype == np.int64
    np.testing.assert_array_equal(t.argmin(dim=1).data, x.argmin(1))
    assert minidl.argmax(t, 0, keepdim=True).shape == (1, 4)


def test_sums_of_bools_and_ints_are_int64():
    t = minidl.tensor(np.array([1.0, -2.0, 3.0], np.float32))
    assert (t > 0).sum().dtype == np.int64 and (t > 0).sum().item() == 2
    assert minidl.tensor(np.arange(4)).sum().item() == 6


@pytest.mark.parametrize("bad, error, message", [
    (lambda t: t.sum(dim=2), ValueError, "sum: dim 2 is out of range"),
    (lambda t: t.mean(dim=(0, 0)), ValueError, "repeats a dimension"),
    (lambda t: minidl.tensor(np.arange(3)).mean(), TypeError, "mean: expected a floating"),
    (lambda t: t.var(unbiased=True, correction=0), ValueError, "unbiased or correction"),
    (lambda t: t.std(correction=-1), ValueError, "correction must be a number >= 0"),
    (lambda t: t.max(dim=1.5), TypeError, "max: dim must be an int"),
    (lambda t: minidl.tensor(np.ones((0, 2))).max(), ValueError, "max: expected a non-empty"),
])
def test_bad_arguments_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        bad(minidl.tensor(np.ones((2, 3))))


def test_any_and_all():
    t = minidl.tensor(np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert (t > 0).any().item() is True and (t >= 0).all().item() is True
    np.testing.assert_array_equal(t.any(dim=1).data, [True, False])
    np.testing.assert_array_equal(minidl.all(t == 0, 0, keepdim=True).data, [[True, False]])


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_and_min_of_a_float32_layer_output_backpropagate_in_float32(reduce):
    """The tie count divided the gradient as an int64 sum, which made it float64 and stopped
    the layer's kernel below with a typing error."""
    layer = minidl.nn.Linear(3, 6)
    x = minidl.tensor(np.random.default_rng(0).random((4, 3), dtype=np.float32))
    getattr(layer(x), reduce)().backward()
    assert layer.weight.grad.dtype == np.float32
