"""minidl.autograd.Function: user-defined operations with PyTorch's protocol (staticmethod
forward/backward, ctx.save_for_backward, ctx.saved_tensors, ctx.needs_input_grad, .apply).

Each test failed before autograd became a package: minidl.autograd.Function was the internal
node class (forward on arrays, `self` as context), which none of these Functions fit."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import autograd


def leaf(rng, *shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


class Exp(autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        y, = ctx.saved_tensors
        return grad_output * y


class Linear(autograd.Function):
    """y = x W^T + b, as the PyTorch tutorial "Extending torch.autograd" writes it."""

    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight, bias)
        return input @ weight.t() + bias

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output @ weight
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t() @ input
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


def test_a_custom_exp_gives_exp_and_its_gradient():
    x = leaf(np.random.default_rng(0), 3, 4)
    y = Exp.apply(x)
    assert not y.is_leaf and y.requires_grad
    np.testing.assert_array_equal(y.data, np.exp(x.data))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data), rtol=1e-15)
    assert autograd.gradcheck(Exp.apply, (leaf(np.random.default_rng(1), 2, 3),))


def test_a_custom_linear_with_save_for_backward_matches_f_linear():
    rng = np.random.default_rng(0)
    x, weight, bias = leaf(rng, 5, 4), leaf(rng, 3, 4), leaf(rng, 3)
    grad_output = rng.standard_normal((5, 3))
    Linear.apply(x, weight, bias).backward(grad_output)
    custom = [t.grad.data.copy() for t in (x, weight, bias)]
    for t in (x, weight, bias):
        t.grad = None
    out = F.linear(x, weight, bias)
    np.testing.assert_allclose(Linear.apply(x, weight, bias).data, out.data, rtol=1e-14)
    out.backward(grad_output)
    for mine, reference in zip(custom, (x.grad.data, weight.grad.data, bias.grad.data)):
        np.testing.assert_allclose(mine, reference, rtol=1e-13, atol=1e-14)
    assert autograd.gradcheck(Linear.apply, (leaf(rng, 4, 3), leaf(rng, 2, 3), leaf(rng, 2)))


def test_needs_input_grad_says_which_arguments_want_a_gradient():
    rng = np.random.default_rng(0)
    seen = []

    class Record(autograd.Function):
        @staticmethod
        def forward(ctx, a, b, scale):
            seen.append(ctx.needs_input_grad)
            return a * b * scale

        @staticmethod
        def backward(ctx, grad_output):
            return None, None, None

    constant = minidl.tensor(rng.standard_normal(3))
    Record.apply(leaf(rng, 3), constant, 2.0)
    assert seen == [(True, False, False)]


def test_ctx_keeps_any_attribute_and_non_tensor_arguments_get_none():
    class Scale(autograd.Function):
        @staticmethod
        def forward(ctx, x, factor):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.factor, None

    x = leaf(np.random.default_rng(0), 4)
    Scale.apply(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(4, 3.0))


def test_several_outputs_reach_one_backward_call_with_zeros_for_an_unused_output():
    calls = []

    class SplitScale(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, grad_double, grad_triple):
            calls.append((grad_double.data.copy(), grad_triple.data.copy()))
            return grad_double * 2 + grad_triple * 3

    x = leaf(np.random.default_rng(0), 3)
    double, triple = SplitScale.apply(x)
    (double.sum() + (triple * triple).sum()).backward()
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad.data, 2 + 3 * 2 * triple.data, rtol=1e-15)

    x.grad, calls[:] = None, []
    double, _ = SplitScale.apply(x)
    double.sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][1], np.zeros(3))
    np.testing.assert_array_equal(x.grad.data, np.full(3, 2.0))


def test_apply_under_no_grad_records_nothing_and_forward_records_nothing():
    x = leaf(np.random.default_rng(0), 3)
    with minidl.no_grad():
        y = Exp.apply(x)
    assert not y.requires_grad and y.is_leaf

    class Inside(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.recording = minidl.is_grad_enabled()
            ctx.product = x * x  # computed without a graph
            return x.clone()

        @staticmethod
        def backward(ctx, grad_output):
            assert not minidl.is_grad_enabled() and not ctx.product.requires_grad
            return grad_output

    Inside.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(3))


def test_an_input_returned_as_it_is_keeps_its_own_identity():
    class Identity(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    x = leaf(np.random.default_rng(0), 3)
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and not y.is_leaf
    (2 * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(3, 2.0))


# ----- the CS231n staged BatchNorm -------------------------------------------------------

def staged_batch_norm_forward(x, gamma, beta, eps):
    """CS231n's staged graph: every step one elementary op (kept for the hand backward)."""
    n = x.shape[0]
    mu = x.sum(0) / n                    # 1. mean
    xmu = x - mu                         # 2. centred
    sq = xmu ** 2                        # 3. square
    var = sq.sum(0) / n                  # 4. (biased) variance
    sqrtvar = (var + eps).sqrt()         # 5. sqrt
    ivar = 1 / sqrtvar                   # 6. invert
    xhat = xmu * ivar                    # 7. normalise
    out = gamma * xhat + beta            # 8. scale and 9. shift
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


class StagedBatchNorm(autograd.Function):
    """The staged graph's forward, and its backward walked stage by stage by hand."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        out, (xhat, _, xmu, ivar, sqrtvar, var, _) = staged_batch_norm_forward(x, gamma, beta,
                                                                                eps)
        ctx.save_for_backward(xhat, gamma, xmu, ivar, sqrtvar, var)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx, dout):
        xhat, gamma, xmu, ivar, sqrtvar, var = ctx.saved_tensors
        n = dout.shape[0]
        dbeta = dout.sum(0)                           # 9
        dgamma = (dout * xhat).sum(0)                 # 8
        dxhat = dout * gamma
        divar = (dxhat * xmu).sum(0)                  # 7
        dxmu1 = dxhat * ivar
        dsqrtvar = -1 / sqrtvar ** 2 * divar          # 6
        dvar = 0.5 / (var + ctx.eps).sqrt() * dsqrtvar  # 5
        dsq = dvar / n * minidl.tensor(np.ones(dout.shape))  # 4
        dxmu2 = 2 * xmu * dsq                         # 3
        dx1 = dxmu1 + dxmu2                           # 2
        dmu = -(dxmu1 + dxmu2).sum(0)
        dx2 = dmu / n * minidl.tensor(np.ones(dout.shape))  # 1
        return dx1 + dx2, dgamma, dbeta, None


@pytest.mark.parametrize("way", ["autograd of the stages", "custom Function"])
def test_the_cs231n_staged_batch_norm_matches_f_batch_norm(way):
    rng = np.random.default_rng(0)
    eps = 1e-5
    x = minidl.tensor(rng.standard_normal((16, 5)) * 3 + 1, requires_grad=True)
    gamma, beta = leaf(rng, 5), leaf(rng, 5)
    grad_output = rng.standard_normal((16, 5))
    if way == "custom Function":
        staged = StagedBatchNorm.apply(x, gamma, beta, eps)
    else:
        staged = staged_batch_norm_forward(x, gamma, beta, eps)[0]
    staged.backward(grad_output)
    staged_grads = [t.grad.data.copy() for t in (x, gamma, beta)]
    for t in (x, gamma, beta):
        t.grad = None
    fused = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    fused.backward(grad_output)
    np.testing.assert_allclose(staged.data, fused.data, rtol=0, atol=1e-12)
    for mine, reference in zip(staged_grads, (x.grad.data, gamma.grad.data, beta.grad.data)):
        np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12)


# ----- errors that name the Function -----------------------------------------------------

def function_returning(gradients):
    class Broken(autograd.Function):
        @staticmethod
        def forward(ctx, x, y, scale):
            return x * y * scale

        @staticmethod
        def backward(ctx, grad_output):
            return gradients(grad_output)
    return Broken


@pytest.mark.parametrize("gradients, error, message", [
    (lambda g: (g, g), ValueError, r"Broken.backward returned 2 gradient\(s\), expected 3"),
    (lambda g: g, ValueError, r"Broken.backward returned 1 gradient\(s\), expected 3"),
    (lambda g: (g, g, None, g), ValueError, r"returned 4 gradient\(s\), expected 3"),
    (lambda g: (g.sum(), g, None), ValueError,
     r"Broken.backward: the gradient for argument 0 of forward: expected the argument's "
     r"shape \(2, 3\), got shape \(\)"),
    (lambda g: (g, g.float(), None), TypeError,
     r"argument 1 of forward: expected the argument's dtype float64, got float32"),
    (lambda g: (g, g, g), TypeError,
     r"argument 2 of forward must be None, since that argument is not a Tensor \(it is "
     r"float\)"),
    (lambda g: (g.data, g, None), TypeError,
     r"argument 0 of forward: expected a Tensor or None, got ndarray"),
])
def test_backward_returning_wrong_gradients_is_an_error_naming_the_function(gradients, error,
                                                                            message):
    rng = np.random.default_rng(0)
    out = function_returning(gradients).apply(leaf(rng, 2, 3), leaf(rng, 2, 3), 2.0)
    with pytest.raises(error, match=message):
        out.sum().backward()


def test_extra_none_gradients_are_accepted_as_in_pytorch():
    rng = np.random.default_rng(0)
    x, y = leaf(rng, 2, 3), leaf(rng, 2, 3)
    function_returning(lambda g: (g, g, None, None)).apply(x, y, 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))


def test_forward_must_return_tensors():
    class ReturnsArray(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    with pytest.raises(TypeError, match="ReturnsArray.forward: expected a Tensor or a tuple"):
        ReturnsArray.apply(leaf(np.random.default_rng(0), 3))


def test_forward_and_backward_must_be_static_methods():
    with pytest.raises(TypeError, match=r"OldStyle.forward must be a @staticmethod"):
        class OldStyle(autograd.Function):
            def forward(self, x):
                return x

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output
    with pytest.raises(RuntimeError, match=r"call Exp.apply\(...\)"):
        Exp()


def test_save_for_backward_takes_only_tensors():
    class SavesNumber(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3.0)
            return x.clone()

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    with pytest.raises(TypeError, match="SavesNumber: save_for_backward saves Tensors .* "
                                        "argument 1 is float"):
        SavesNumber.apply(leaf(np.random.default_rng(0), 3))


# ----- the version counter ---------------------------------------------------------------

def test_a_saved_input_modified_in_place_since_forward_is_refused():
    x = leaf(np.random.default_rng(0), 3)
    out = Linear.apply(x.reshape(1, 3), leaf(np.random.default_rng(1), 2, 3),
                       leaf(np.random.default_rng(2), 2))
    with minidl.no_grad():
        x.add_(1.0)  # a manual update between forward and backward
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: a float64 "
                                           r"tensor of shape \(1, 3\), saved by Linear.forward"
                                           r" \(ctx.save_for_backward\), is at version 1; "
                                           r"expected version 0"):
        out.sum().backward()


def test_a_saved_output_modified_in_place_is_refused():
    x = leaf(np.random.default_rng(0), 3)
    y = Exp.apply(x)
    y.mul_(2.0)  # recorded, but Exp's backward saved y's old values
    with pytest.raises(RuntimeError, match=r"saved by Exp.forward .* is at version 1; "
                                           r"expected version 0"):
        y.sum().backward()


def test_saved_tensors_unchanged_since_forward_are_accepted():
    x = leaf(np.random.default_rng(0), 3)
    y = Exp.apply(x)
    z = y * 1.0
    with minidl.no_grad():
        x.grad = None  # not an in-place change of saved data
    z.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data), rtol=1e-15)


# ----- PyTorch's other ctx methods and the setup_context form ---------------------------

def test_pytorch_2_setup_context_form():
    class Cube(autograd.Function):
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            return 3 * x ** 2 * grad_output

    x = leaf(np.random.default_rng(0), 3)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2, rtol=1e-15)


def test_marked_outputs_have_no_gradient_and_unmaterialized_grads_are_none():
    received = []

    class SortWithIndices(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            order = minidl.tensor(np.argsort(x.data))
            values = minidl.tensor(x.data[order.data])
            shifted = values * 1.0
            ctx.mark_non_differentiable(shifted)
            ctx.set_materialize_grads(False)
            ctx.save_for_backward(order)
            return values, shifted, order

        @staticmethod
        def backward(ctx, grad_values, grad_shifted, grad_order):
            received.append((grad_shifted, grad_order))
            order, = ctx.saved_tensors
            grad = np.zeros(grad_values.shape)
            grad[order.data] = grad_values.data
            return minidl.tensor(grad)

    x = minidl.tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    values, shifted, order = SortWithIndices.apply(x)
    assert values.requires_grad and not shifted.requires_grad and not order.requires_grad
    (values * minidl.tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    assert received == [(None, None)]
    np.testing.assert_array_equal(x.grad.data, [3.0, 1.0, 2.0])
