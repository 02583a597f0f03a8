"""SGD: PyTorch's update rule written out as a scalar loop, frozen parameters, state dicts."""
import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.optim import SGD


def pytorch_sgd_reference(param, grads, lr, momentum, dampening, weight_decay, nesterov):
    """torch.optim.SGD's algorithm, as documented, one float64 step per gradient."""
    param = param.astype(np.float64).copy()
    buffer = None
    for grad in grads:
        g = grad + weight_decay * param
        if momentum != 0:
            buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
            g = g + momentum * buffer if nesterov else buffer
        param = param - lr * g
    return param


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=5e-4),
])
def test_sgd_matches_the_documented_algorithm(kernel_set, rng, options):
    start = rng.standard_normal((5, 4)).astype(np.float32)
    grads = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(4)]
    param = nn.Parameter(start.copy())
    optimizer = SGD([param], **options)
    for grad in grads:
        param.grad = minidl.tensor(grad)
        optimizer.step()
    full = {**dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False), **options}
    expected = pytorch_sgd_reference(start, grads, **full)
    np.testing.assert_allclose(param.data, expected, rtol=1e-5, atol=1e-6)
    assert param.data.dtype == np.float32


def test_frozen_and_gradless_parameters_are_skipped_by_every_term(kernel_set):
    frozen = nn.Parameter(np.ones(3, np.float32))
    gradless = nn.Parameter(np.ones(3, np.float32))
    frozen.grad = minidl.tensor(np.ones(3, np.float32))
    frozen.requires_grad = False
    optimizer = SGD([frozen, gradless], lr=0.1, momentum=0.9, weight_decay=0.1)
    optimizer.step()
    np.testing.assert_array_equal(frozen.data, 1)
    np.testing.assert_array_equal(gradless.data, 1)
    assert not optimizer.state


def test_param_groups_and_state_dict_round_trip(rng):
    a, b = nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(3, np.float32))
    optimizer = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.param_groups[1]["lr"] == 0.5
    for p in (a, b):
        p.grad = minidl.tensor(np.full(p.shape, 0.5, np.float32))
    optimizer.step()
    state = optimizer.state_dict()
    assert state["param_groups"][1]["params"] == [1]
    np.testing.assert_allclose(state["state"][0]["momentum_buffer"], 0.5)

    a2, b2 = nn.Parameter(a.data.copy()), nn.Parameter(b.data.copy())
    restored = SGD([{"params": [a2]}, {"params": [b2]}], lr=0.3, momentum=0.9)
    restored.load_state_dict(state)
    assert restored.param_groups[1]["lr"] == 0.5
    for p, q in ((a, a2), (b, b2)):
        p.grad = q.grad = minidl.tensor(np.full(p.shape, 0.25, np.float32))
    optimizer.step()
    restored.step()
    np.testing.assert_array_equal(a.data, a2.data)
    np.testing.assert_array_equal(b.data, b2.data)


def test_zero_grad():
    p = nn.Parameter(np.ones(2, np.float32))
    p.grad = minidl.tensor(np.ones(2, np.float32))
    optimizer = SGD([p], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    optimizer.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("options, message", [
    (dict(lr=-0.1), r"lr in \[0, inf\], got -0.1"),
    (dict(lr=0.1, momentum=-0.5), "momentum in"),
    (dict(lr=0.1, weight_decay=-1), "weight_decay in"),
    (dict(lr=0.1, nesterov=True), "Nesterov momentum requires momentum > 0"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening 0"),
])
def test_bad_hyperparameters(options, message):
    with pytest.raises(ValueError, match=message):
        SGD([nn.Parameter(np.ones(1, np.float32))], **options)


def test_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(nn.Parameter(np.ones(1, np.float32)), lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([np.ones(3)], lr=0.1)
    p = nn.Parameter(np.ones(1, np.float32))
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)


@pytest.mark.parametrize("make", [
    lambda params: minidl.optim.Adam(params, lr=0.01, weight_decay=0.1),
    lambda params: minidl.optim.AdamW(params, lr=0.01),
    lambda params: minidl.optim.Adagrad(params, lr=0.01, weight_decay=0.1),
])
def test_adaptive_optimizers_skip_frozen_and_gradless_parameters(kernel_set, make):
    frozen = nn.Parameter(np.ones(3, np.float32))
    frozen.grad = minidl.tensor(np.ones(3, np.float32))
    frozen.requires_grad = False
    gradless, live = nn.Parameter(np.ones(3, np.float32)), nn.Parameter(np.ones(3, np.float32))
    live.grad = minidl.tensor(np.ones(3, np.float32))
    optimizer = make([frozen, gradless, live])
    optimizer.step()
    np.testing.assert_array_equal(frozen.data, 1)
    np.testing.assert_array_equal(gradless.data, 1)
    assert (live.data < 1).all()
    assert list(optimizer.state) == [live]  # no state, no step count for skipped parameters


def test_adam_state_dict_round_trip(rng):
    param = nn.Parameter(rng.standard_normal(4).astype(np.float32))
    twin = nn.Parameter(param.data.copy())
    optimizer = minidl.optim.Adam([param], lr=0.1, amsgrad=True)
    for _ in range(2):
        param.grad = minidl.tensor(rng.standard_normal(4).astype(np.float32))
        optimizer.step()
    twin.data[...] = param.data
    restored = minidl.optim.Adam([twin], lr=0.5)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.state[twin]["step"] == 2 and restored.param_groups[0]["lr"] == 0.1
    param.grad = twin.grad = minidl.tensor(np.ones(4, np.float32))
    optimizer.step()
    restored.step()
    np.testing.assert_array_equal(param.data, twin.data)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: minidl.optim.Adam(p, lr=-1), ValueError, r"Adam: expected lr in \[0, inf\]"),
    (lambda p: minidl.optim.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\] in \[0, 1\)"),
    (lambda p: minidl.optim.Adam(p, betas=0.9), TypeError, "betas to be a pair"),
    (lambda p: minidl.optim.AdamW(p, eps=-1e-8), ValueError, "AdamW: expected eps in"),
    (lambda p: minidl.optim.Adagrad(p, lr_decay=-0.1), ValueError, "Adagrad: expected lr_decay"),
])
def test_adaptive_optimizer_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make([nn.Parameter(np.ones(1, np.float32))])
