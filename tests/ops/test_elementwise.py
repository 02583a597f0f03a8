"""ops/elementwise.py: values, PyTorch's dtype promotion, errors, and float64 gradient checks
with broadcasting, tensor-tensor and tensor-scalar in either order."""
import numpy as np
import pytest

import minidl

from ..gradcheck import check_gradients
from ._helpers import f32, leaf

BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
               ((3, 1), (1, 5))]


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_gradients_with_broadcasting(rng, name, shapes):
    low = 0.5 if name in ("pow", "div") else None  # pow's d/db needs a > 0; div away from 0
    a, b = leaf(rng, *shapes[0], low=low), leaf(rng, *shapes[1], low=low)
    check_gradients(BINARY[name], [a, b], rng)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradients_with_a_number_on_either_side(rng, name):
    check_gradients(lambda a: BINARY[name](a, 1.7), [leaf(rng, 3, 4, low=0.5)], rng)
    check_gradients(lambda a: BINARY[name](1.7, a), [leaf(rng, 3, 4, low=0.5)], rng)


def test_binary_values_match_numpy(rng):
    a, b = rng.standard_normal((2, 3)), rng.uniform(0.5, 2, (3,))
    ta, tb = minidl.tensor(a), minidl.tensor(b)
    for name, function in BINARY.items():
        left = np.abs(a) if name == "pow" else a
        expected = function(left, b)
        got = function(minidl.tensor(left) if name == "pow" else ta, tb)
        np.testing.assert_allclose(got.data, expected, err_msg=name)
    np.testing.assert_allclose((2.0 - ta).data, 2.0 - a)
    np.testing.assert_allclose((2.0 / tb).data, 2.0 / b)
    np.testing.assert_allclose((2.0 ** tb).data, 2.0 ** b)
    np.testing.assert_allclose(minidl.add(ta, tb, alpha=3).data, a + 3 * b)


UNARY = {"neg": (lambda x: -x, None), "abs": (abs, None), "exp": (minidl.exp, None),
         "log": (minidl.log, 0.5), "sqrt": (minidl.sqrt, 0.5), "sin": (minidl.sin, None),
         "cos": (minidl.cos, None), "sigmoid": (minidl.sigmoid, None),
         "tanh": (minidl.tanh, None), "relu": (minidl.relu, None),
         "clamp": (lambda x: x.clamp(-0.5, 0.7), None),
         "clamp_min": (lambda x: minidl.clamp(x, min=0.1), None),
         "method_exp": (lambda x: x.exp(), None), "method_pow": (lambda x: x.pow(3), None)}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradients(rng, name):
    function, low = UNARY[name]
    x = leaf(rng, 4, 5, low=low)
    x.data[np.abs(x.data) < 0.05] = 0.3  # away from the kinks of abs, relu
    for edge in (-0.5, 0.7, 0.1):  # and from clamp's bounds
        x.data[np.abs(x.data - edge) < 0.01] += 0.05
    check_gradients(function, [x], rng)


def test_unary_values_match_numpy(rng):
    x = rng.standard_normal((3, 4))
    t = minidl.tensor(x)
    np.testing.assert_allclose(minidl.sigmoid(t).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(t.relu().data, np.maximum(x, 0))
    np.testing.assert_allclose(t.clamp(max=0.2).data, np.minimum(x, 0.2))
    np.testing.assert_allclose(abs(t).data, np.abs(x))
    np.testing.assert_allclose(t.tanh().data, np.tanh(x))


def test_sigmoid_does_not_overflow():
    t = minidl.tensor(np.array([-1000.0, 0.0, 1000.0], np.float32))
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_allclose(minidl.sigmoid(t).data, [0.0, 0.5, 1.0])
    assert minidl.sigmoid(t).dtype == np.float32


def test_relu_and_abs_gradients_at_zero_are_zero_as_pytorch():
    x = minidl.tensor(np.zeros(2), requires_grad=True)
    (x.relu() + abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


@pytest.mark.parametrize("expression, expected", [
    (lambda a32, a64, i64: a32 * 2.5, np.float32),     # a Python float never promotes
    (lambda a32, a64, i64: 2.5 * a32, np.float32),
    (lambda a32, a64, i64: a32 / 3, np.float32),
    (lambda a32, a64, i64: a32 ** 2, np.float32),
    (lambda a32, a64, i64: a32 + a64, np.float64),     # two float tensors: the wider
    (lambda a32, a64, i64: i64 * 0.5, np.float32),     # int tensor, float number: float32
    (lambda a32, a64, i64: i64 + a32, np.float32),     # int and float tensors: the float's
    (lambda a32, a64, i64: i64 * 2, np.int64),
    (lambda a32, a64, i64: i64 / 2, np.float32),       # true division of ints: float32
    (lambda a32, a64, i64: a32 + a64.sum(), np.float32),  # a 0-d tensor decides less
    (lambda a32, a64, i64: minidl.exp(i64), np.float32),
    (lambda a32, a64, i64: -i64, np.int64),
    (lambda a32, a64, i64: (a32 > 0) + (a32 > 1), np.bool_),
    (lambda a32, a64, i64: (a32 > 0) * 1.5, np.float32),
])
def test_dtype_promotion_as_pytorch(expression, expected):
    a32, a64 = f32(1.0, 2.0), minidl.tensor(np.array([1.0, 2.0]))
    i64 = minidl.tensor(np.array([1, 2]))
    assert expression(a32, a64, i64).dtype == expected


def test_gradients_return_to_each_inputs_dtype():
    a32 = minidl.tensor(np.ones(3, np.float32), requires_grad=True)
    a64 = minidl.tensor(np.ones((2, 3)), requires_grad=True)
    (a32 * a64).sum().backward()
    assert a32.grad.dtype == np.float32 and a32.grad.shape == (3,)
    np.testing.assert_allclose(a32.grad.data, 2.0)
    assert a64.grad.dtype == np.float64


@pytest.mark.parametrize("bad, message", [
    (lambda a: a + np.ones(3), "add: expected a Tensor or a number, got ndarray"),
    (lambda a: a * "2", "mul: expected a Tensor or a number, got str"),
    (lambda a: a - [1.0], "sub: expected a Tensor or a number, got list"),
    (lambda a: minidl.exp(np.ones(3)), "exp: expected a Tensor, got ndarray"),
    (lambda a: (a > 0) - (a > 1), "sub: not defined on two bools"),
    (lambda a: -(a > 0), "neg: not defined on a bool tensor"),
    (lambda a: a.clamp(), "clamp: expected min or max"),
    (lambda a: a.clamp(min="0"), "clamp: expected min to be a number"),
])
def test_bad_operands_are_named(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        bad(f32(1.0, 2.0, 3.0))


def test_shapes_that_do_not_broadcast_name_the_op():
    with pytest.raises(ValueError, match=r"div: shapes \(2, 3\) and \(2,\) do not broadcast"):
        minidl.tensor(np.ones((2, 3))) / minidl.tensor(np.ones(2))
