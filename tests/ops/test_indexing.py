"""ops/indexing.py: basic and advanced indexing, gradients scattered back with np.add.at."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf

KEYS = {
    "int": 1, "negative": -1, "slice": (slice(None), slice(1, 3)), "step": slice(None, None, 2),
    "ellipsis_none": (Ellipsis, None, 0), "list": [0, 2, 2], "range": range(2),
    "pair": (range(3), [1, 0, 3]), "mask": np.array([True, False, True]),
    "int_tensor": minidl.tensor(np.array([2, 0, 2])),
}


@pytest.mark.parametrize("name", list(KEYS))
def test_indexing_values_and_gradients(rng, name):
    key = KEYS[name]
    x = leaf(rng, 3, 4)
    numpy_key = key.data if isinstance(key, minidl.Tensor) else key
    if isinstance(numpy_key, tuple):
        numpy_key = tuple(list(k) if isinstance(k, range) else k for k in numpy_key)
    elif isinstance(numpy_key, range):
        numpy_key = list(numpy_key)
    np.testing.assert_array_equal(x[key].data, x.data[numpy_key])
    check_gradients(lambda x: x[key], [x], rng)


def test_picking_each_rows_target_as_in_a_hand_written_loss(rng):
    logits = leaf(rng, 4, 5)
    target = minidl.tensor(np.array([1, 0, 4, 1]))
    picked = logits[range(4), target]
    np.testing.assert_array_equal(picked.data, logits.data[np.arange(4), target.data])
    picked.sum().backward()
    expected = np.zeros((4, 5))
    expected[np.arange(4), target.data] = 1
    np.testing.assert_array_equal(logits.grad.data, expected)


def test_a_repeated_index_receives_every_gradient():
    x = minidl.tensor(np.zeros(3), requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 1.0])


def test_a_bool_tensor_mask_from_a_comparison(rng):
    x = leaf(rng, 6)
    kept = x[x > 0]
    np.testing.assert_array_equal(kept.data, x.data[x.data > 0])
    kept.sum().backward()
    np.testing.assert_array_equal(x.grad.data, (x.data > 0).astype(float))


@pytest.mark.parametrize("key, message", [
    (5, r"indexing a tensor of shape \(3, 4\) with \[5\]: index 5 is out of bounds"),
    ((0, 0, 0), "too many indices"),
    (minidl.tensor(np.array([0.0, 1.0])), "tensors used as indices must be int64 or bool"),
    ("a", "tensors used as indices must be int64 or bool .* got str"),
    ([0.5], "got an array of dtype float64"),
])
def test_bad_indices_are_an_index_error(key, message):
    with pytest.raises(IndexError, match=message):
        minidl.tensor(np.ones((3, 4)))[key]


def test_setitem_writes_in_place_with_a_version_bump():
    x = minidl.tensor(np.arange(6.0).reshape(2, 3))
    array = x.data
    x[x > 2] = 0
    x[0] = minidl.tensor(np.array([7.0, 8.0, 9.0]))
    x[:, 0] = -1  # a number broadcast over the selection
    assert x.data is array and x._version.value == 3
    np.testing.assert_array_equal(x.data, [[-1, 8, 9], [-1, 0, 0]])


def test_setitem_gradients_reach_the_value_and_the_rest_of_the_tensor(rng):
    def put(x, v):
        h = x * 1.0
        h[:, 1:3] = v  # v (2,) broadcast into the (3, 2) selection
        return h
    check_gradients(put, [leaf(rng, 3, 4), leaf(rng, 2)], rng)


def test_setitem_refusals():
    w = minidl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        w[0] = 2.0
    x = minidl.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"a value of shape \(2,\) does not fit the \(2, 3\)"):
        x[:] = minidl.tensor(np.ones(2))
    with pytest.raises(TypeError, match="a float32 value cannot be stored in a int64 tensor"):
        minidl.tensor(np.arange(3))[0] = 0.5
    with pytest.raises(IndexError, match="out of bounds"):
        x[5] = 1.0
