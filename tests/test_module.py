"""Module registration, traversal, modes, state dicts (PyTorch's keys) and freezing."""
import numpy as np
import pytest

import minidl
from minidl import nn


def mnist_bn_net():
    """The Ioffe & Szegedy MNIST network: 784-100-100-100-10, BatchNorm, sigmoid."""
    layers = []
    for fan_in in (784, 100, 100):
        layers += [nn.Linear(fan_in, 100), nn.BatchNorm1d(100), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(100, 10))


def test_state_dict_keys_and_shapes_match_pytorch():
    state = mnist_bn_net().state_dict()
    assert list(state)[:7] == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                               "1.running_var", "1.num_batches_tracked"]
    assert state["0.weight"].shape == (100, 784)
    assert state["9.weight"].shape == (10, 100)
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"].dtype \
        == np.int64
    assert len(state) == 4 * 2 + 3 * 5


def test_parameters_buffers_children_modules():
    model = mnist_bn_net()
    assert len(list(model.parameters())) == 14
    assert len(list(model.buffers())) == 9
    assert len(list(model.children())) == 10
    assert len(list(model.modules())) == 11
    names = [name for name, _ in model.named_parameters()]
    assert names[:3] == ["0.weight", "0.bias", "1.weight"]


def test_shared_parameter_is_listed_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_train_eval_recurse_and_validate():
    model = mnist_bn_net()
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="True or False"):
        model.train("no")


def test_state_dict_round_trip_and_in_place_load():
    minidl.manual_seed(0)
    source = mnist_bn_net()
    minidl.manual_seed(1)
    target = mnist_bn_net()
    weight_object = target[0].weight
    target.load_state_dict({k: v.data.copy() for k, v in source.state_dict().items()})
    assert target[0].weight is weight_object  # optimizers keep their references
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key].data, value.data)


def test_load_state_dict_reports_missing_unexpected_and_mis_shaped_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    state = {k: v.data.copy() for k, v in model.state_dict().items()}
    before = model[0].weight.data.copy()
    bad = dict(state)
    del bad["1.running_var"]
    bad["2.weight"] = np.zeros(3, np.float32)
    bad["0.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError) as error:
        model.load_state_dict(bad)
    message = str(error.value)
    assert "missing keys ['1.running_var']" in message
    assert "unexpected keys ['2.weight']" in message
    assert "0.weight: expected shape (3, 2), got (3, 3)" in message
    np.testing.assert_array_equal(model[0].weight.data, before)  # nothing half-loaded
    state["0.weight"] = state["0.weight"].astype(np.float64)
    with pytest.raises(ValueError, match="0.weight: expected dtype float32, got float64"):
        model.load_state_dict(state)


def test_load_state_dict_non_strict_returns_the_differences():
    model = nn.Sequential(nn.Linear(2, 3))
    result = model.load_state_dict({"0.weight": np.ones((3, 2), np.float32),
                                    "extra": np.ones(1, np.float32)}, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].weight.data, 1)


def test_requires_grad_and_zero_grad():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    x = minidl.tensor(np.ones((4, 2), np.float32))
    model(x).sum().backward()
    assert model[0].weight.grad is None and model[1].weight.grad is not None
    model.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model[1].weight.grad.data, 0)
    model.zero_grad()
    assert model[1].weight.grad is None


def test_double_and_float_convert_parameters_and_buffers():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    model.float()
    assert model[0].weight.dtype == np.float32


def test_registration_errors():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Broken()
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        model.weight = np.zeros((2, 2))
    with pytest.raises(TypeError, match="buffer"):
        nn.BatchNorm1d(2).running_mean = np.zeros(2)


def test_sequential_indexing_and_repr():
    model = mnist_bn_net()
    assert isinstance(model[-1], nn.Linear) and len(model[:3]) == 3
    assert "(1): BatchNorm1d(100, eps=1e-05, momentum=0.1" in repr(model)
    with pytest.raises(IndexError):
        model[10]


def test_identity_and_flatten():
    x = minidl.tensor(np.zeros((2, 3, 4), np.float32))
    assert nn.Identity()(x) is x
    assert nn.Flatten()(x).shape == (2, 12)


def test_load_state_dict_into_a_read_only_array_changes_nothing():
    layer = nn.Linear(3, 2)
    before = {key: value.data.copy() for key, value in layer.state_dict().items()}
    layer.bias.data.flags.writeable = False
    new = {key: np.zeros_like(value) for key, value in before.items()}
    with pytest.raises(ValueError, match="bias: its array is read-only"):
        layer.load_state_dict(new)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value.data, before[key])  # the weight was not zeroed
