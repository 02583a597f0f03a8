"""Tensor.retain_grad(), backward(retain_graph=True), minidl.autograd.grad and
minidl.inference_mode, as PyTorch's. Each test failed before: none of these names existed
(and a second backward always raised)."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import autograd, nn


def leaf(rng, *shape):
    return minidl.tensor(rng.standard_normal(shape), requires_grad=True)


# ----- retain_grad -----------------------------------------------------------------------

def test_retain_grad_keeps_a_non_leaf_gradient_and_others_stay_none():
    rng = np.random.default_rng(0)
    x = leaf(rng, 3)
    hidden = x * 2
    other = hidden.exp()
    hidden.retain_grad()
    assert hidden.retains_grad and not other.retains_grad
    loss = other.sum()
    loss.retain_grad()
    loss.backward()
    np.testing.assert_allclose(hidden.grad.data, np.exp(hidden.data), rtol=1e-15)
    np.testing.assert_array_equal(loss.grad.data, 1.0)
    assert other.grad is None
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(hidden.data), rtol=1e-15)


def test_a_retained_gradient_is_its_own_array_and_accumulates():
    x = leaf(np.random.default_rng(0), 3)
    hidden = x + 0          # Add passes its gradient through: hidden's and x's are one array
    hidden.retain_grad()
    (hidden * 1).sum().backward(retain_graph=True)
    assert not np.shares_memory(hidden.grad.data, x.grad.data)
    (hidden * 1).sum().backward()
    np.testing.assert_array_equal(hidden.grad.data, np.full(3, 2.0))


def test_retain_grad_on_a_leaf_is_a_no_op_and_without_grad_an_error():
    x = leaf(np.random.default_rng(0), 3)
    x.retain_grad()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(3, 3.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.tensor(np.ones(3)).retain_grad()


# ----- retain_graph ----------------------------------------------------------------------

def test_a_second_backward_raises_unless_the_graph_was_retained():
    x = leaf(np.random.default_rng(0), 3)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()

    x.grad = None
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data, rtol=1e-15)


def test_retain_graph_through_layers_gives_the_same_gradients_twice():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3))
    images = minidl.tensor(rng.standard_normal((8, 6)).astype(np.float32))
    labels = minidl.tensor(rng.integers(0, 3, 8))
    loss = F.cross_entropy(model(images), labels)
    loss.backward(retain_graph=True)
    first = [p.grad.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    loss.backward()
    for once, again in zip(first, (p.grad.data for p in model.parameters())):
        np.testing.assert_array_equal(once, again)


def test_a_custom_function_frees_what_it_saved_unless_retained():
    class Square(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            return 2 * x * grad_output

    x = leaf(np.random.default_rng(0), 3)
    y = Square.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data, rtol=1e-15)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_refuses_bad_options():
    x = leaf(np.random.default_rng(0), 3)
    with pytest.raises(TypeError, match="retain_graph True, False or None, got 'yes'"):
        (x * 2).sum().backward(retain_graph="yes")
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        (x * 2).sum().backward(create_graph=True)


# ----- autograd.grad ---------------------------------------------------------------------

def test_grad_returns_gradients_and_touches_no_grad():
    rng = np.random.default_rng(0)
    x, w = leaf(rng, 4), leaf(rng, 4)
    hidden = x * w
    hidden.retain_grad()
    dx, dhidden = autograd.grad((hidden ** 2).sum(), [x, hidden])
    np.testing.assert_allclose(dx.data, 2 * hidden.data * w.data, rtol=1e-15)
    np.testing.assert_allclose(dhidden.data, 2 * hidden.data, rtol=1e-15)
    assert x.grad is None and w.grad is None and hidden.grad is None
    assert not dx.requires_grad and dx.is_leaf


def test_grad_of_several_outputs_with_grad_outputs_sums_them():
    rng = np.random.default_rng(0)
    x = leaf(rng, 3)
    v1, v2 = rng.standard_normal(3), rng.standard_normal(3)
    (dx,) = autograd.grad([x * 2, x.exp()], x,
                          grad_outputs=[minidl.tensor(v1), minidl.tensor(v2)])
    np.testing.assert_allclose(dx.data, 2 * v1 + np.exp(x.data) * v2, rtol=1e-15)


def test_grad_of_a_leaf_with_respect_to_itself_is_a_copy():
    x = leaf(np.random.default_rng(0), 3)
    ones = minidl.tensor(np.ones(3))
    (dx,) = autograd.grad(x, x, grad_outputs=ones)
    np.testing.assert_array_equal(dx.data, np.ones(3))
    assert not np.shares_memory(dx.data, ones.data)


def test_grad_frees_the_graph_unless_retained():
    x = leaf(np.random.default_rng(0), 3)
    loss = (x * x).sum()
    first, = autograd.grad(loss, x, retain_graph=True)
    second, = autograd.grad(loss, x)
    np.testing.assert_array_equal(first.data, second.data)
    with pytest.raises(RuntimeError, match="second time"):
        autograd.grad(loss, x)


def test_unused_inputs_are_an_error_unless_allowed():
    rng = np.random.default_rng(0)
    x, unused = leaf(rng, 3), leaf(rng, 3)
    with pytest.raises(RuntimeError, match="input 1 was not used in the graph"):
        autograd.grad((x * 2).sum(), [x, unused])
    dx, dunused = autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    np.testing.assert_array_equal(dx.data, np.full(3, 2.0))
    assert dunused is None


def test_grad_refuses_bad_arguments():
    rng = np.random.default_rng(0)
    x, constant = leaf(rng, 3), minidl.tensor(rng.standard_normal(3))
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        autograd.grad((x * constant).sum(), constant)
    with pytest.raises(RuntimeError, match="output 0 does not require grad"):
        autograd.grad(constant.sum(), x)
    with pytest.raises(ValueError, match="gradient can be omitted only for a tensor with one"):
        autograd.grad(x * 2, x)
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(3,\) and dtype "
                                         r"float64, got shape \(2,\)"):
        autograd.grad(x * 2, x, grad_outputs=minidl.tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"one grad_output per output \(1\), got 2"):
        autograd.grad(x * 2, x, grad_outputs=[None, None])
    with pytest.raises(TypeError, match="expected inputs to be Tensors, got ndarray"):
        autograd.grad((x * 2).sum(), [x.data])
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        autograd.grad((x * 2).sum(), x, create_graph=True)


# ----- autograd.backward -----------------------------------------------------------------

def test_backward_of_several_tensors_is_one_pass_over_their_sum():
    rng = np.random.default_rng(0)
    x = leaf(rng, 3)
    shared = x.exp()
    weights = rng.standard_normal(3)
    autograd.backward([(shared * 2).sum(), shared], [None, minidl.tensor(weights)])
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) * (2 + weights), rtol=1e-15)
    with pytest.raises(RuntimeError, match="second time"):
        shared.sum().backward()  # one pass: the graph was freed once, after both


def test_backward_of_several_tensors_refuses_bad_arguments():
    x = leaf(np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match=r"one grad_tensor per tensor \(2\), got 1"):
        autograd.backward([x.sum(), x.sum()], [None])
    with pytest.raises(RuntimeError, match="autograd.backward: tensor 1 does not require grad"):
        autograd.backward([x.sum(), minidl.tensor(np.ones(1))])
    with pytest.raises(TypeError, match="expected tensors to be a Tensor or a list or tuple"):
        autograd.backward(x.data)


# ----- inference_mode --------------------------------------------------------------------

def test_inference_mode_records_nothing_as_a_context_manager_and_decorators():
    x = leaf(np.random.default_rng(0), 3)
    with minidl.inference_mode():
        assert not minidl.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert minidl.is_grad_enabled()

    @minidl.inference_mode
    def bare(t):
        return t * 2

    @minidl.inference_mode()
    def called(t):
        return t * 2

    assert not bare(x).requires_grad and not called(x).requires_grad
    assert (x * 2).requires_grad


def test_inference_mode_false_records_and_modes_nest():
    x = leaf(np.random.default_rng(0), 3)
    with minidl.no_grad():
        with minidl.inference_mode(False):
            assert (x * 2).requires_grad
        assert not minidl.is_grad_enabled()
    with minidl.inference_mode():
        with minidl.inference_mode():
            pass
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()


def test_inference_mode_on_a_generator_applies_to_its_steps_only():
    x = leaf(np.random.default_rng(0), 3)

    @minidl.inference_mode()
    def doubled(n):
        for _ in range(n):
            yield (x * 2).requires_grad

    steps = doubled(2)
    assert next(steps) is False
    assert minidl.is_grad_enabled()  # the caller's mode between steps
    assert next(steps) is False


def test_inference_mode_refuses_other_arguments():
    with pytest.raises(TypeError, match="inference_mode: expected mode True or False"):
        minidl.inference_mode("yes")
