"""minidl.autograd.gradcheck, as PyTorch's: float64 central differences over the whole
Jacobian (or along a random direction with fast_mode), True or an error naming the worst
element. Each test failed before: minidl.autograd had no gradcheck."""
import numpy as np
import pytest

import minidl
from minidl import autograd


def leaf(rng, *shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


class SquareWithOneWrongElement(autograd.Function):
    """x ** 2 whose backward is off by 1% at element [1, 2]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        grad = grad_output * 2 * x
        grad.data[1, 2] *= 1.01
        return grad


def test_correct_gradients_pass_for_several_inputs_and_outputs():
    rng = np.random.default_rng(0)
    a, b = leaf(rng, 3, 4), leaf(rng, 4, 2)
    assert autograd.gradcheck(lambda a, b: ((a @ b).tanh(), a.sum(1)), (a, b))
    assert autograd.gradcheck(lambda a, b: (a @ b).tanh(), [a, b], fast_mode=True)


def test_a_wrong_element_is_reported_as_the_worst():
    x = minidl.tensor(np.arange(1.0, 13.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(autograd.GradcheckError,
                       match=r"Jacobian mismatch for output 0 with respect to input 0: 1 of "
                             r"144 elements differ; the worst, d output\[1, 2\] / d input"
                             r"\[1, 2\], is analytical 14.14 against numerical 14.0"):
        autograd.gradcheck(SquareWithOneWrongElement.apply, (x,))
    assert autograd.gradcheck(SquareWithOneWrongElement.apply, (x,),
                              raise_exception=False) is False


def test_fast_mode_detects_a_wrong_gradient_too():
    x = minidl.tensor(np.arange(1.0, 13.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(autograd.GradcheckError, match="Gradient mismatch along a random "
                                                      "direction"):
        autograd.gradcheck(SquareWithOneWrongElement.apply, (x,), fast_mode=True,
                           generator=np.random.default_rng(0))


def test_tolerances_are_pytorchs():
    # an error of 1e-4 relative passes rtol=1e-3 and fails rtol=1e-5
    class SlightlyOff(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 3.0003

    x = minidl.tensor(np.ones(4) * 5, requires_grad=True)
    assert autograd.gradcheck(SlightlyOff.apply, (x,))
    assert not autograd.gradcheck(SlightlyOff.apply, (x,), rtol=1e-5, raise_exception=False)


def test_inputs_are_restored_and_no_grad_is_touched():
    rng = np.random.default_rng(0)
    x, constant = leaf(rng, 2, 3), minidl.tensor(rng.standard_normal((2, 3)))
    before = x.data.copy()
    assert autograd.gradcheck(lambda x, c: (x * c).exp(), (x, constant))
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="input 0 requires grad and is float32; expected "
                                        "float64"):
        autograd.gradcheck(lambda x: x * 2, (leaf(rng, 3).float().detach().requires_grad_(),))
    with pytest.raises(ValueError, match="at least one input that requires grad"):
        autograd.gradcheck(lambda x: x * 2, (minidl.tensor(rng.standard_normal(3)),))
    with pytest.raises(TypeError, match="expected func to return a Tensor"):
        autograd.gradcheck(lambda x: x.data, (leaf(rng, 3),))


def test_the_tests_helper_is_the_packaged_fast_mode():
    from tests.gradcheck import check_gradients
    x = minidl.tensor(np.arange(1.0, 13.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(autograd.GradcheckError):
        check_gradients(SquareWithOneWrongElement.apply, [x], np.random.default_rng(0))
    check_gradients(lambda t: t * t, [x], np.random.default_rng(0))


def test_a_nan_gradient_fails_the_full_check():
    class NaNGradient(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    x = minidl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(autograd.GradcheckError):
        autograd.gradcheck(NaNGradient.apply, (x,))
    assert autograd.gradcheck(NaNGradient.apply, (x,), raise_exception=False) is False
