"""Whose memory a tensor holds: constructors copy NumPy arrays (so optimizers never write into
the caller's array, and read-only arrays train as writable copies); Parameter(tensor) shares
the tensor's array as in PyTorch; operations and detach() share without copying."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn, optim


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


def _memory_mapped(tmp_path, array: np.ndarray) -> np.ndarray:
    path = tmp_path / "weights.npy"
    np.save(path, array)
    return np.load(path, mmap_mode="r")  # read-only, backed by the file


def _step_once(parameter: nn.Parameter, optimizer_class, **options) -> None:
    optimizer = optimizer_class([parameter], lr=0.1, **options)
    parameter.grad = minidl.tensor(np.ones(parameter.shape, parameter.dtype))
    optimizer.step()


@pytest.mark.parametrize("make", [minidl.tensor, minidl.Tensor, nn.Parameter],
                         ids=["tensor", "Tensor", "Parameter"])
def test_constructors_copy_the_callers_array(make):
    array = np.ones((2, 3), np.float32)
    t = make(array)
    assert not np.shares_memory(t.data, array)
    t.data[0, 0] = 5.0
    array[1, 1] = 7.0
    assert array[0, 0] == 1.0 and t.data[1, 1] == 1.0


@pytest.mark.parametrize("optimizer_class, options", [(optim.SGD, {"momentum": 0.9}),
                                                      (optim.Adam, {})], ids=["SGD", "Adam"])
def test_step_does_not_modify_the_array_a_parameter_was_built_from(optimizer_class, options):
    array = np.ones(4, np.float32)
    parameter = nn.Parameter(array)
    _step_once(parameter, optimizer_class, **options)
    np.testing.assert_array_equal(array, 1.0)  # the caller's array: untouched
    assert (parameter.data < 1.0).all()        # the parameter's own copy: updated


def test_parameter_of_a_tensor_shares_its_array_as_in_pytorch():
    weights = minidl.tensor(np.ones(3, np.float32))
    parameter = nn.Parameter(weights)
    assert parameter.data is weights.data
    _step_once(parameter, optim.SGD)
    np.testing.assert_allclose(weights.data, 0.9)


@pytest.mark.parametrize("source", ["read_only", "memory_mapped", "broadcast_to"])
@pytest.mark.parametrize("optimizer_class", [optim.SGD, optim.Adam], ids=["SGD", "Adam"])
def test_read_only_arrays_train_as_writable_copies(tmp_path, source, optimizer_class):
    # the parameter used to share the read-only array, and step() failed with a 27-line Numba
    # typing error
    values = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    array = {"read_only": lambda: _read_only(values),
             "memory_mapped": lambda: _memory_mapped(tmp_path, values),
             "broadcast_to": lambda: np.broadcast_to(values[:1], (3, 4))}[source]()
    expected = np.array(array)
    assert not array.flags.writeable
    parameter = nn.Parameter(array)
    assert parameter.data.flags.writeable and parameter.data.flags.c_contiguous
    _step_once(parameter, optimizer_class)
    np.testing.assert_array_equal(array, expected)
    assert not np.allclose(parameter.data, expected)


@pytest.mark.parametrize("make", [minidl.tensor, minidl.Tensor], ids=["tensor", "Tensor"])
def test_read_only_arrays_give_writable_tensors(tmp_path, make):
    for array in (_read_only(np.ones(3, np.float32)),
                  _memory_mapped(tmp_path, np.ones(3, np.float32)),
                  np.broadcast_to(np.float32(1.0), (3,))):
        t = make(array)
        assert t.data.flags.writeable and t.data.flags.c_contiguous
        assert not np.shares_memory(t.data, array)


def test_a_model_given_read_only_weights_trains():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    frozen = _read_only(model[0].weight.data)
    model[0].weight = nn.Parameter(frozen)  # e.g. weights from a read-only file
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    x = minidl.tensor(np.random.default_rng(0).random((8, 4), dtype=np.float32))
    labels = np.arange(8) % 2
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        optimizer.step()
    assert not np.array_equal(model[0].weight.data, frozen)


def test_parameter_of_a_tensor_with_a_read_only_array_is_a_clear_error():
    t = minidl.tensor(np.ones(3, np.float32))
    t.data = _read_only(t.data)
    with pytest.raises(ValueError, match=r"read-only.*Parameter\(tensor.data\)"):
        nn.Parameter(t)
    t.data = np.ones((3, 2), np.float32).T
    with pytest.raises(ValueError, match="not C-contiguous"):
        nn.Parameter(t)
    parameter = nn.Parameter(t.data)  # the array instead: copied
    assert parameter.data.flags.c_contiguous and parameter.shape == (2, 3)


def test_parameter_refuses_integer_data():
    with pytest.raises(TypeError, match="Parameter: expected floating point data"):
        nn.Parameter(np.arange(3))
    with pytest.raises(TypeError, match="Parameter: expected floating point data"):
        nn.Parameter(minidl.tensor(np.arange(3)))


def test_operation_results_and_detach_share_without_copying():
    x = minidl.tensor(np.ones((2, 3), np.float32))
    assert x.detach().data is x.data
    assert np.shares_memory(x.reshape(3, 2).data, x.data)
