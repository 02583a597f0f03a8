"""ops/matmul.py: @, matmul (1-D operands, broadcast batch dimensions) and mm."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import leaf

SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
          ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_values_and_gradients(rng, shapes):
    a, b = leaf(rng, *shapes[0]), leaf(rng, *shapes[1])
    np.testing.assert_allclose((a @ b).data, np.matmul(a.data, b.data))
    check_gradients(lambda a, b: a @ b, [a, b], rng)


def test_mm_and_the_method(rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4, 2)
    check_gradients(minidl.mm, [a, b], rng)
    np.testing.assert_allclose(a.matmul(b).data, a.data @ b.data)
    with pytest.raises(ValueError, match=r"mm: expected matrices .* got \(3, 4\) and \(4,\)"):
        minidl.mm(a, minidl.tensor(np.ones(4)))


def test_matmul_errors_name_the_shapes_and_dtypes():
    a = minidl.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(3, 4\) cannot be "):
        a @ a
    with pytest.raises(TypeError, match="same dtype.*float64 and float32"):
        a @ minidl.tensor(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        minidl.matmul(a.sum(), a)
    with pytest.raises(TypeError, match="matmul: expected the second argument to be a Tensor"):
        a @ np.ones((4, 2))
