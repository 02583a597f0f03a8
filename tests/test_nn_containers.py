"""nn.ModuleList, nn.ModuleDict, nn.ParameterList, Module.apply, named_modules and
register_buffer(persistent=): state_dict keys and traversal orders as PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.blocks = nn.ModuleList([nn.Linear(3, 3),
                                     nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))])
        self.heads = nn.ModuleDict({"digit": nn.Linear(3, 10), "parity": nn.Linear(3, 2)})
        self.scales = nn.ParameterList([nn.Parameter(np.ones(3, np.float32))])

    def forward(self, x):
        x = self.fc1(x) * self.scales[0]
        for block in self.blocks:
            x = block(x)
        return self.heads["digit"](x)


def test_state_dict_keys_are_pytorchs():
    # the keys torch.nn gives this same architecture
    assert list(Net().state_dict()) == [
        "fc1.weight", "fc1.bias",
        "blocks.0.weight", "blocks.0.bias",
        "blocks.1.0.weight", "blocks.1.0.bias",
        "blocks.1.1.weight", "blocks.1.1.bias", "blocks.1.1.running_mean",
        "blocks.1.1.running_var", "blocks.1.1.num_batches_tracked",
        "heads.digit.weight", "heads.digit.bias", "heads.parity.weight", "heads.parity.bias",
        "scales.0"]
    assert list(nn.ModuleList([nn.Linear(2, 2)]).state_dict()) == ["0.weight", "0.bias"]
    assert list(nn.ParameterList([nn.Parameter(np.zeros(2))]).state_dict()) == ["0"]


def test_the_containers_parameters_train():
    minidl.manual_seed(0)
    model = Net()
    assert len(list(model.parameters())) == 13  # 6 Linear/BN weights and biases, 1 scale
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1)
    before = model.scales[0].data.copy()
    inputs = minidl.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    outputs = model(inputs)
    loss = (outputs * outputs).sum()  # (a plain sum has zero gradient through BatchNorm)
    loss.backward()
    optimizer.step()
    assert not np.array_equal(model.scales[0].data, before)
    assert model.heads["parity"].weight.grad is None  # not used in forward


def test_named_modules_order_and_prefixes_are_pytorchs():
    model = Net()
    assert [name for name, _ in model.named_modules()] == [
        "", "fc1", "blocks", "blocks.0", "blocks.1", "blocks.1.0", "blocks.1.1", "heads",
        "heads.digit", "heads.parity", "scales"]
    assert [name for name, _ in model.named_modules(prefix="net")][:3] == [
        "net", "net.fc1", "net.blocks"]
    assert list(model.modules())[0] is model
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in twice.named_modules()] == ["", "0", "1"]  # once, as PyTorch


def test_apply_visits_children_first_and_returns_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    visited = []
    assert model.apply(lambda module: visited.append(type(module).__name__)) is model
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]

    def zero_linear(module):
        if isinstance(module, nn.Linear):
            module.weight.data[...] = 0

    model.apply(zero_linear)
    assert all(not p.data.any() for name, p in model.named_parameters() if "weight" in name)


def test_module_list_operations_renumber_as_pytorch():
    a, b, c, d = (nn.Linear(1, 1) for _ in range(4))
    layers = nn.ModuleList([a, b])
    layers.append(c)
    layers.insert(0, d)
    assert list(layers) == [d, a, b, c] and layers[-1] is c
    assert list(layers._modules) == ["0", "1", "2", "3"]
    del layers[1]
    assert list(layers) == [d, b, c] and list(layers.state_dict())[:2] == ["0.weight", "0.bias"]
    assert list(layers.state_dict())[-1] == "2.bias"
    assert isinstance(layers[1:], nn.ModuleList) and list(layers[1:]) == [b, c]
    layers[0] = a
    assert layers[0] is a and layers.pop() is c and len(layers) == 2
    layers += [c]
    assert list(layers + nn.ModuleList([d])) == [a, b, c, d]


def test_module_list_refuses_bad_input():
    layers = nn.ModuleList([nn.ReLU()])
    with pytest.raises(IndexError, match="index 1 is out of range for 1 entries"):
        layers[1]
    with pytest.raises(TypeError, match="integers or slices, got str"):
        layers["0"]
    with pytest.raises(TypeError, match="expected a Module, got int"):
        layers.append(3)
    with pytest.raises(TypeError, match="expected a Module"):
        layers[0] = np.zeros(2)
    with pytest.raises(TypeError, match="single Linear; use append"):
        nn.ModuleList(nn.Linear(1, 1))
    with pytest.raises(NotImplementedError, match="not callable"):
        layers(minidl.tensor(np.zeros(1, np.float32)))


def test_module_dict_mapping_interface():
    first, second = nn.Linear(1, 1), nn.ReLU()
    heads = nn.ModuleDict([("b", first), ("a", second)])
    assert list(heads) == ["b", "a"] and list(heads.keys()) == ["b", "a"]
    assert "a" in heads and heads["a"] is second and len(heads) == 2
    heads["c"] = nn.Tanh()
    heads.update({"b": second})  # replaced in place: keeps its position
    assert list(heads) == ["b", "a", "c"] and heads["b"] is second
    assert heads.pop("c").__class__ is nn.Tanh
    del heads["a"]
    assert list(heads.items()) == [("b", second)]
    with pytest.raises(KeyError, match="no module 'z'"):
        heads["z"]
    with pytest.raises(KeyError, match="without '.'"):
        heads["x.y"] = nn.ReLU()
    with pytest.raises(KeyError, match="'training' already exists"):
        nn.ModuleDict({"training": nn.ReLU()})
    with pytest.raises(TypeError, match="expected a Module"):
        heads["w"] = 1.0
    with pytest.raises(TypeError, match=r"\(name, module\) pairs"):
        nn.ModuleDict([nn.ReLU()])


def test_parameter_list_holds_parameters():
    tensor = minidl.tensor(np.ones(2, np.float32))
    params = nn.ParameterList([nn.Parameter(np.zeros(3, np.float32)), tensor])
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert params[1].data is tensor.data  # shares the tensor's array, as torch does
    params.append(nn.Parameter(np.zeros(1)))
    assert len(params) == 3 and list(params.state_dict()) == ["0", "1", "2"]
    assert len(list(params.parameters())) == 3
    with pytest.raises(TypeError, match="expected a Parameter or a Tensor, got ndarray"):
        params.append(np.zeros(2))
    with pytest.raises(TypeError, match="iterable of Parameters"):
        nn.ParameterList(tensor)


class WithMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("mask", minidl.tensor(np.ones(2, np.float32)), persistent=False)
        self.register_buffer("scale", minidl.tensor(np.ones(2, np.float32)))


def test_non_persistent_buffers_are_left_out_of_state_dict():
    model = WithMask()
    # a module's own entries come before its children's, as in PyTorch
    assert list(model.state_dict()) == ["scale", "linear.weight", "linear.bias"]
    assert [name for name, _ in model.named_buffers()] == ["mask", "scale"]  # still buffers
    outer = nn.Sequential(model)
    assert list(outer.state_dict()) == ["0.scale", "0.linear.weight", "0.linear.bias"]
    saved = {key: value.data.copy() for key, value in WithMask().state_dict().items()}
    assert model.load_state_dict(saved).missing_keys == []  # strict: mask is not expected
    model.mask = minidl.tensor(np.zeros(2, np.float32))  # reassigned: stays non-persistent
    assert "mask" not in model.state_dict()
    model.register_buffer("mask", model.mask, persistent=True)
    assert "mask" in model.state_dict()
    with pytest.raises(TypeError, match="persistent must be True or False"):
        model.register_buffer("other", None, persistent=0)
