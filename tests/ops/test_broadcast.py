"""ops/_broadcast.py: the broadcast shape, and gradients summed back to each input's shape."""
import numpy as np
import pytest

from minidl.ops._broadcast import broadcast_shape, sum_to_shape


@pytest.mark.parametrize("shapes, expected", [
    (((2, 3), (3,)), (2, 3)), (((4, 1, 5), (3, 1)), (4, 3, 5)), (((), (2, 2)), (2, 2)),
    (((1,), (0,)), (0,))])
def test_broadcast_shape_follows_numpy(shapes, expected):
    assert broadcast_shape(*shapes, op="add") == expected


def test_shapes_that_do_not_broadcast_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\) do not broadcast"):
        broadcast_shape((2, 3), (4,), op="mul")


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 4), (4,), (1, 4), (3, 1), (1, 1, 1), ()])
def test_sum_to_shape_sums_what_broadcasting_added_or_stretched(shape):
    grad = np.random.default_rng(0).standard_normal((2, 3, 4))
    reduced = sum_to_shape(grad, shape, np.dtype(np.float32))
    assert reduced.shape == shape and reduced.dtype == np.float32
    # the adjoint of broadcasting: <broadcast(v), grad> == <v, sum_to_shape(grad)>
    v = np.random.default_rng(1).standard_normal(shape)
    np.testing.assert_allclose(np.sum(np.broadcast_to(v, grad.shape) * grad),
                               np.sum(v * sum_to_shape(grad, shape, np.dtype(np.float64))))
