"""Tensor construction, dtype rules, the graph engine and no_grad."""
import numpy as np
import pytest

import minidl


def test_dtype_follows_the_array():
    assert minidl.tensor(np.zeros(3, np.float64)).dtype == np.float64
    assert minidl.tensor(np.zeros(3, np.float16)).dtype == np.float32
    assert minidl.tensor([1.5, 2.0]).dtype == np.float64  # Python floats are float64 in NumPy
    assert minidl.tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert minidl.tensor(np.array([1, 2], np.int32)).dtype == np.int64
    assert minidl.tensor(np.array([1, 2], np.uint8)).dtype == np.int64


def test_float16_becomes_float32_exactly():
    half = np.array([65504.0, 6e-8, 0.1, -2.5], np.float16)  # largest, subnormal, inexact, exact
    t = minidl.tensor(half)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data.astype(np.float16), half)
    assert (t.data == half.astype(np.float64)).all()  # each float16 value, exactly


def test_byte_swapped_floats_keep_their_precision():
    # a big-endian float64 used to become float32 (0.1 rounded to 0.10000000149)
    t = minidl.tensor(np.array([0.1, 1e300], ">f8"))
    assert t.dtype == np.float64 and t.data.dtype.isnative
    np.testing.assert_array_equal(t.data, [0.1, 1e300])
    assert minidl.tensor(np.array([3], ">u2")).data.tolist() == [3]


def test_longdouble_is_refused_rather_than_rounded():
    data = np.array([1 + 1e-18], np.longdouble)
    if np.dtype(np.longdouble).itemsize == 8:  # platforms where longdouble is float64
        assert minidl.tensor(data).dtype == np.float64
    else:
        with pytest.raises(TypeError, match=r"expected float16, float32 or float64.*astype"):
            minidl.tensor(data)


def test_unsigned_values_beyond_int64_are_refused_not_wrapped():
    # uint64 values of 2**63 and more used to become negative int64 values
    with pytest.raises(ValueError, match=r"int64's range \[-2\*\*63, 2\*\*63 - 1\].*"
                                         r"9223372036854775808"):
        minidl.tensor(np.array([1, 2**63], np.uint64))
    largest = minidl.tensor(np.array([2**63 - 1], np.uint64))
    assert largest.dtype == np.int64 and largest.item() == 2**63 - 1
    assert minidl.tensor(np.array([], np.uint64)).shape == (0,)


@pytest.mark.parametrize("data", [2**63, 2**64, -2**63 - 1, [2**63, -1], [[1.5], [2**64]],
                                  np.array([1, 2**70], dtype=object), 2**5000],
                         ids=["2**63", "2**64", "-2**63-1", "list_rounded_to_float",
                              "nested_beside_float", "object_array", "huge"])
def test_python_ints_beyond_int64_are_refused(data):
    # they became negative (2**63), float64 rounded silently ([2**63, -1]) or "not numbers"
    with pytest.raises(ValueError, match="int64's range"):
        minidl.tensor(data)


def test_int64_limits_and_large_floats_are_kept():
    assert minidl.tensor([-2**63, 2**63 - 1]).data.tolist() == [-2**63, 2**63 - 1]
    np.testing.assert_array_equal(minidl.tensor([1e19, -3.0]).data, [1e19, -3.0])


def test_ragged_nested_lists_are_a_clear_error():
    with pytest.raises(ValueError, match=r"minidl.tensor: expected a rectangular array"):
        minidl.tensor([[1.0, 2.0], [3.0]])


def test_booleans_and_object_arrays_say_how_to_convert():
    with pytest.raises(TypeError, match=r"got booleans; convert a mask explicitly"):
        minidl.tensor(np.array([True, False]))
    with pytest.raises(TypeError, match=r"dtype object; convert it first"):
        minidl.tensor(np.array([1, 2.5], dtype=object))


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object()]),
                                 np.array([True, False]), np.array([1j])])
def test_non_numeric_data_is_refused(bad):
    with pytest.raises(TypeError, match="expected numbers"):
        minidl.tensor(bad)


def test_tensor_copies_and_numpy_shares():
    array = np.ones(3, np.float32)
    t = minidl.tensor(array)
    array[0] = 5
    assert t.data[0] == 1
    assert t.numpy() is t.data
    for converted in (np.ones(3, np.float16), [1.0, 2.0], np.arange(3, dtype=np.int32)):
        assert minidl.tensor(converted).data.flags.writeable  # converted data: copied once


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating point"):
        minidl.tensor(np.arange(3), requires_grad=True)


def test_backward_accumulates_and_handles_shared_inputs():
    x = minidl.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1)
    z = (x * 2.0).sum()
    z.backward()  # a second graph accumulates into .grad
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)
    assert x.grad.dtype == np.float32


def test_backward_waits_for_every_use_of_an_intermediate_tensor():
    # h is used at three depths; the engine runs nodes newest first, so h's node must see the
    # sum of all three paths: loss = sum((3h + h) * h) = sum(4 h^2) = sum(16 x^2), h = 2x,
    # so d/dx = 32 x
    x = minidl.tensor(np.array([1.0, -2.0, 0.5], np.float32), requires_grad=True)
    h = x * 2.0
    a = h * 3.0
    loss = ((a + h) * h).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 32 * x.data, rtol=1e-6)


def test_gradients_kept_from_kernels_are_private_to_each_leaf():
    # Linear's backward returns fresh kernel arrays, which leaves keep without a copy: each
    # leaf's .grad must still be its own array, and later backward passes add into it
    minidl.manual_seed(0)
    layer = minidl.nn.Linear(3, 2)
    x = minidl.tensor(np.random.default_rng(0).random((4, 3), dtype=np.float32),
                      requires_grad=True)
    layer(x).sum().backward()
    grads = [layer.weight.grad.data, layer.bias.grad.data, x.grad.data]
    for i, first in enumerate(grads):
        for second in grads[i + 1:]:
            assert not np.shares_memory(first, second)
    first_weight_grad = layer.weight.grad.data.copy()
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, 2 * first_weight_grad, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad.data, 8.0)  # 4 samples, 2 passes
    given = np.ones((4, 2), np.float32)
    y = minidl.tensor(np.ones((4, 2), np.float32), requires_grad=True)
    y.backward(given)  # a leaf's gradient passed in by the caller is copied, not kept
    given[0, 0] = 5.0
    assert y.grad.data[0, 0] == 1.0


def test_backward_needs_gradient_for_non_scalars():
    x = minidl.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"scalar loss.*\(2, 2\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.ones((2, 2), np.float32))
    np.testing.assert_allclose(x.grad.data, 2.0)
    x.grad = None
    (x * 3.0).backward(minidl.tensor(np.ones((2, 2), np.float32)))
    np.testing.assert_allclose(x.grad.data, 3.0)


def test_backward_gradient_shape_and_dtype_are_checked():
    x = minidl.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="expected a gradient of shape"):
        (x * 2.0).backward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="dtype float32"):
        (x * 2.0).backward(np.ones((2, 2), np.float64))


def test_backward_twice_through_the_same_graph_is_an_error():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.tensor(np.ones(1, np.float32)).backward()


def test_no_grad_records_nothing():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    with minidl.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    assert minidl.is_grad_enabled()

    @minidl.no_grad()
    def doubled(t):
        return t * 2.0
    assert not doubled(x).requires_grad


def test_detach_cuts_the_graph():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    y = x.detach()
    assert not y.requires_grad and y.is_leaf
    assert y.data is x.data  # shares memory, as in PyTorch


def test_deep_graph_does_not_hit_recursion_limit():
    x = minidl.tensor(np.ones(1, np.float32), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad.data[0] == 1.0


def test_arithmetic_values():
    a = minidl.tensor(np.array([1.0, 2.0], np.float32))
    b = minidl.tensor(np.array([3.0, 5.0], np.float32))
    np.testing.assert_allclose((a + b).data, [4, 7])
    np.testing.assert_allclose((a - b).data, [-2, -3])
    np.testing.assert_allclose((a * b).data, [3, 10])
    np.testing.assert_allclose((2.0 - a).data, [1, 0])
    np.testing.assert_allclose((a / 2).data, [0.5, 1])
    np.testing.assert_allclose((-a).data, [-1, -2])
    assert (a * 0.5).dtype == np.float32  # a Python float does not promote


def test_shapes_that_do_not_broadcast_are_an_error_naming_the_op():
    a = minidl.tensor(np.ones((2, 3), np.float32))
    assert (a + minidl.tensor(np.ones(3, np.float32))).shape == (2, 3)  # broadcast, as PyTorch
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(2,\) do not broadcast"):
        a + minidl.tensor(np.ones(2, np.float32))


def test_mixed_float_dtypes_promote_as_pytorch_and_arrays_are_refused():
    a = minidl.tensor(np.ones(3, np.float32))
    assert (a * minidl.tensor(np.ones(3, np.float64))).dtype == np.float64
    with pytest.raises(TypeError, match="mul: expected a Tensor or a number, got ndarray"):
        a * np.ones(3, np.float32)


def test_reshape_flatten_sum_mean():
    x = minidl.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert x.reshape(6, 4).shape == (6, 4)
    assert x.reshape((4, -1)).shape == (4, 6)
    assert x.flatten().shape == (24,)
    assert x.flatten(1).shape == (2, 12)
    assert x.sum().item() == 276
    np.testing.assert_allclose(x.sum(dim=(0, 2)).data, x.data.sum(axis=(0, 2)))
    np.testing.assert_allclose(x.mean(dim=1, keepdim=True).data, x.data.mean(1, keepdims=True))
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3, 4\)"):
        x.reshape(5, 5)
    with pytest.raises(ValueError, match="out of range"):
        x.sum(dim=3)


def test_explicit_casts_carry_gradients():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, 3.0)


def test_every_op_is_a_minidl_function_and_the_common_ones_tensor_methods():
    for name in minidl.ops.PUBLIC:
        assert getattr(minidl, name) is getattr(minidl.ops, name), name
    for name in ("exp", "sum", "max", "argmax", "view", "permute", "unsqueeze", "add_",
                 "zero_", "clone", "long", "tolist", "T"):
        assert hasattr(minidl.Tensor, name), name
    x = minidl.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(minidl.exp(x).data, x.exp().data)
    np.testing.assert_array_equal(minidl.cat([x, x], 1).data, np.hstack([x.data, x.data]))
