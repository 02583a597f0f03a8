"""ops/compare.py: comparisons give bool tensors; where, allclose, isnan."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf


def test_comparisons_are_bool_tensors_that_sum_float_and_item(rng):
    x = rng.standard_normal((3, 4))
    t, u = minidl.tensor(x), minidl.tensor(x[0])
    for result, expected in ((t == u, x == x[0]), (t != 0.5, x != 0.5), (t < u, x < x[0]),
                             (t <= 0, x <= 0), (0 < t, 0 < x), (t >= u, x >= x[0]),
                             (minidl.eq(t, u), x == x[0]), (t.gt(0), x > 0)):
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    assert (t > 0).sum().item() == (x > 0).sum()
    assert (t > 0).float().dtype == np.float32
    assert (t > 0).float().mean().item() == pytest.approx((x > 0).mean())
    assert (t[0, 0] == x[0, 0]).item() is True


def test_accuracy_as_students_write_it():
    logits = minidl.tensor(np.array([[0.1, 2.0], [3.0, 0.2], [0.0, 1.0]], np.float32))
    labels = minidl.tensor(np.array([1, 1, 1]))
    correct = (logits.argmax(1) == labels).sum().item()
    assert correct == 2


def test_tensors_stay_usable_as_dict_keys_and_truth_values_follow_pytorch():
    a, b = minidl.tensor(np.ones(2)), minidl.tensor(np.ones(2))
    assert len({a: 1, b: 2}) == 2
    assert bool(minidl.tensor(np.array([2.0])) > 1)
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(a == b)


def test_where_values_and_gradients_with_broadcasting(rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4)
    condition = a > 0
    np.testing.assert_array_equal(minidl.where(condition, a, b).data,
                                  np.where(condition.data, a.data, b.data))
    check_gradients(lambda a, b: minidl.where(condition, a, b), [a, b], rng)
    check_gradients(lambda a: minidl.where(condition, a, 0.0), [a], rng)
    assert minidl.where(condition, a.float(), 0.0).dtype == np.float32


def test_allclose_and_isnan():
    a = minidl.tensor(np.array([1.0, np.nan]))
    np.testing.assert_array_equal(minidl.isnan(a).data, [False, True])
    assert a.isnan().dtype == np.bool_
    assert minidl.allclose(a, a, equal_nan=True) is True
    assert minidl.allclose(a, a + 1e-3, equal_nan=True) is False


@pytest.mark.parametrize("bad, error, message", [
    (lambda t: t == np.ones(3), TypeError, "eq: expected a Tensor or a number, got ndarray"),
    (lambda t: t < minidl.tensor(np.ones(2)), ValueError, r"lt: shapes \(3,\) and \(2,\)"),
    (lambda t: minidl.where(t, t, t), TypeError, "where: expected the condition to be a bool"),
    (lambda t: minidl.where(t > 0, t, minidl.tensor(np.ones(2))), ValueError,
     "where: shapes"),
    (lambda t: minidl.allclose(t, np.ones(3)), TypeError, "allclose: expected the second"),
])
def test_bad_arguments_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        bad(minidl.tensor(np.ones(3)))
