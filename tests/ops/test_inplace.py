"""ops/inplace.py and the version counter: in-place ops update the same tensor and array,
a manual SGD step under no_grad trains, a leaf that requires grad is protected, and a backward
whose saved tensors changed since the forward pass (an in-place op, optimizer.step()) raises."""
import numpy as np
import pytest

import minidl
from minidl import nn
import minidl.nn.functional as F

from ..gradcheck import check_gradients
from ._helpers import leaf

MODIFIED = "one of the variables needed for gradient computation has been modified by an " \
           "inplace operation"
LEAF = "a leaf Variable that requires grad is being used in an in-place operation."


@pytest.mark.parametrize("update, expected", [
    (lambda t: t.add_(2.0), [3.0, 4.0]), (lambda t: t.add_(t, alpha=2), [3.0, 6.0]),
    (lambda t: t.sub_(minidl.tensor(np.array([1.0, 1.0]))), [0.0, 1.0]),
    (lambda t: t.mul_(3), [3.0, 6.0]), (lambda t: t.div_(2), [0.5, 1.0]),
    (lambda t: t.zero_(), [0.0, 0.0]), (lambda t: t.fill_(7), [7.0, 7.0]),
    (lambda t: t.clamp_(max=1.5), [1.0, 1.5]),
    (lambda t: t.copy_(minidl.tensor(np.array([5, 6]))), [5.0, 6.0]),
    (lambda t: t.copy_(minidl.tensor(np.array(9.0))), [9.0, 9.0]),
])
def test_in_place_ops_update_the_same_tensor_and_array(update, expected):
    t = minidl.tensor(np.array([1.0, 2.0], np.float32))
    array, version = t.data, t._version.value
    assert update(t) is t
    assert t.data is array and t.dtype == np.float32
    np.testing.assert_array_equal(t.data, expected)
    assert t._version.value == version + 1


def test_augmented_assignment_is_in_place():
    t = minidl.tensor(np.ones((2, 3), np.float32))
    alias, array = t, t.data
    t += minidl.tensor(np.array([1.0, 2.0, 3.0], np.float32))  # the other side broadcasts
    t -= 1
    t *= 2
    t /= 4
    assert t is alias and t.data is array and t.dtype == np.float32
    np.testing.assert_allclose(t.data, np.tile([0.5, 1.0, 1.5], (2, 1)))
    assert t._version.value == 4


def test_manual_sgd_step_under_no_grad_trains_an_mlp(rng):
    # the idiom that used to rebind p and leave the weights alone
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 3))
    x = minidl.tensor(rng.standard_normal((64, 4)).astype(np.float32))
    y = minidl.tensor(np.argmax(x.data[:, :3], axis=1))
    arrays = [p.data for p in model.parameters()]
    initial = [a.copy() for a in arrays]
    losses = []
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        for p in model.parameters():
            p.grad = None
        loss.backward()
        with minidl.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    for p, array, before in zip(model.parameters(), arrays, initial):
        assert p.data is array and p.dtype == np.float32  # updated in place, still float32
        assert not np.array_equal(array, before)


def test_in_place_change_of_a_leaf_that_requires_grad_is_refused():
    w = minidl.tensor(np.ones(3), requires_grad=True)
    for update in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.mul_(2)):
        with pytest.raises(RuntimeError, match=LEAF):
            update()
    with pytest.raises(RuntimeError, match=LEAF):
        w -= 1
    np.testing.assert_array_equal(w.data, 1.0)  # nothing was written
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        w[0:2].add_(1)
    with minidl.no_grad():
        w[0:2].add_(1)  # under no_grad, through a view too
    np.testing.assert_array_equal(w.data, [2.0, 2.0, 1.0])


def test_requires_grad_():
    t = minidl.tensor(np.ones(2))
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad


def test_backward_refuses_an_input_modified_since_the_forward_pass():
    x = minidl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = minidl.tensor(np.array([3.0, 4.0]), requires_grad=True)
    loss = (x * w).sum()
    with minidl.no_grad():
        w.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED + r".*input of Mul, is at version 1; "
                                                      r"expected version 0"):
        loss.backward()


def test_a_change_through_a_view_is_seen_too():
    x = minidl.tensor(np.ones((2, 2)), requires_grad=True)
    loss = (x * x).sum()
    with minidl.no_grad():
        x.view(4)[0:1].mul_(5)
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_ops_that_do_not_read_their_inputs_allow_later_changes():
    x = minidl.tensor(np.ones(2), requires_grad=True)
    loss = (x + 1).sum() + x.reshape(2, 1).sum()
    with minidl.no_grad():
        x.add_(1)
    loss.backward()  # Add and Reshape saved nothing of x: PyTorch allows this too
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_optimizer_step_between_forward_and_backward_is_an_error(rng):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1)
    x = minidl.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    target = minidl.tensor(np.array([0, 1, 0, 1, 1]))
    F.cross_entropy(model(x), target).backward()
    loss = F.cross_entropy(model(x), target)
    optimizer.step()  # updates the weights the pending graph saved
    with pytest.raises(RuntimeError, match=MODIFIED + r".*input of LinearFunction"):
        loss.backward()
    optimizer.zero_grad()
    F.cross_entropy(model(x), target).backward()  # the usual order works
    optimizer.step()


def test_in_place_ops_on_results_are_recorded(rng):
    x = leaf(rng, 3)

    def staged(x):
        h = x * 2.0
        h += 1.0
        h.mul_(x)          # needs h's old values for x's gradient
        h.sub_(x, alpha=3)
        h.clamp_(min=-1.0)
        return h
    check_gradients(staged, [x], rng)
    # copy_ into a tensor that needs no grad: the gradient flows to the source, broadcast
    check_gradients(lambda c: minidl.tensor(np.zeros((2, 3))).copy_(c * 2.0), [leaf(rng, 3)],
                    rng)


def test_zero_or_fill_on_a_result_cuts_its_gradient():
    x = minidl.tensor(np.ones(2), requires_grad=True)
    h = x * 3.0
    h.zero_()
    (h + x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_overwriting_an_output_that_backward_reads_is_an_error():
    x = minidl.tensor(np.ones(2), requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    y.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED + r": the output of Exp.*add_"):
        y.sum().backward()
    z = minidl.tensor(np.ones((2, 3)), requires_grad=True)
    s = F.sigmoid(z)  # a layer Function: found by what it kept, not by a declaration
    s.mul_(2)
    with pytest.raises(RuntimeError, match="the output of SigmoidFunction"):
        s.sum().backward()


def test_results_that_do_not_fit_in_place_are_refused():
    t = minidl.tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"add_: the result has shape \(2, 3\), which does not "
                                         r"fit .* of shape \(3,\)"):
        t += minidl.tensor(np.ones((2, 3), np.float32))
    ints = minidl.tensor(np.arange(3))
    with pytest.raises(TypeError, match="mul_: the result is float32, which cannot be stored "
                                        "in place in a int64 tensor"):
        ints *= 0.5
    with pytest.raises(ValueError, match="read-only"):
        t.expand(2, 3).add_(1)
    with pytest.raises(TypeError, match="fill_: expected a number"):
        t.fill_("1")
    np.testing.assert_array_equal(t.data, 1.0)
    assert t._version.value == 0  # refused before anything was written
