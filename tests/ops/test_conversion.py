"""ops/conversion.py and the Tensor conversions: casts, clone, contiguous, detach_, tolist,
element_size, type, to."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf


def test_casts_to_float_carry_gradients_and_to_ints_and_bools_do_not(rng):
    x = leaf(rng, 3)
    (x.float() * 2.0).sum().backward()  # float32 on the way: no float64 gradient check
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, 2.0)
    assert x.double() is x  # nothing to convert: the same tensor, as PyTorch's .to()
    for cast, dtype in ((x.long, np.int64), (x.int, np.int64), (x.bool, np.bool_)):
        result = cast()
        assert result.dtype == dtype and not result.requires_grad
    np.testing.assert_array_equal(minidl.tensor(np.array([1.7, -1.7])).long().data, [1, -1])
    assert x.to(np.float32).dtype == np.float32 and x.to("float32").dtype == np.float32
    assert x.type(np.float32).dtype == np.float32
    assert (x > 0).float().dtype == np.float32


def test_type_names_and_bad_dtypes():
    assert minidl.tensor(np.ones(1, np.float32)).type() == "minidl.FloatTensor"
    assert minidl.tensor(np.arange(2)).type() == "minidl.LongTensor"
    t = minidl.tensor(np.ones(2))
    with pytest.raises(TypeError, match=r"expected a dtype of float32, float64, int64 or bool, "
                                        r"got float16"):
        t.to(np.float16)
    with pytest.raises(TypeError, match="got 'banana'"):
        t.to("banana")
    assert t.to("cpu") is t
    with pytest.raises(RuntimeError, match="minidl runs on the CPU only"):
        t.to("cuda")


def test_clone_copies_and_passes_the_gradient(rng):
    x = leaf(rng, 2, 3)
    y = x.clone()
    assert not np.shares_memory(y.data, x.data) and y._version is not x._version
    check_gradients(lambda x: x.clone() * 3.0, [x], rng)


def test_contiguous():
    x = minidl.tensor(np.ones((2, 3)))
    assert x.contiguous() is x
    transposed = x.T.contiguous()
    assert transposed.data.flags.c_contiguous and transposed.shape == (3, 2)


def test_detach_in_place_tolist_element_size_numel():
    x = minidl.tensor(np.array([[1.0, 2.0]], np.float32), requires_grad=True)
    y = x * 2.0
    assert y.detach_() is y and y.is_leaf and not y.requires_grad
    assert x.tolist() == [[1.0, 2.0]] and x.element_size() == 4 and x.numel() == 2
    assert minidl.tensor(np.arange(3)).tolist() == [0, 1, 2]
