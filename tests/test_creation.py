"""Constructors under PyTorch's names (issue 12, "PyTorch's names where course code expects
them"): values, PyTorch's default dtypes, dtype=/requires_grad=/device=, seeding by
manual_seed, the memory sharing of from_numpy and as_tensor, and errors that name the
function. None of these functions existed before: every test here failed with an
AttributeError."""
import re

import numpy as np
import pytest

import minidl
import minidl as torch
from minidl import nn


def test_learning_pytorch_with_examples_polynomial_fit_runs_unchanged():
    """"Learning PyTorch with Examples", PyTorch: Tensors and autograd, as written there
    (fewer steps): the constructors with device= and dtype=, randn(()) scalars that require
    grad, and a manual gradient step."""
    import math
    dtype = torch.float
    device = torch.device("cpu")
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)
    a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    d = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    learning_rate = 1e-6
    losses = []
    for t in range(300):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    assert a.shape == () and a.dtype == torch.float32
    assert losses[-1] < losses[0] / 10


def test_what_is_torch_nn_really_parameters_run_unchanged():
    """"What is torch.nn really?": weights from randn scaled, requires_grad_(), zeros bias."""
    import math
    weights = torch.randn(784, 10) / math.sqrt(784)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)
    assert weights.is_leaf and weights.requires_grad and bias.requires_grad
    assert weights.dtype == torch.float32 and abs(weights.data.std() - 1 / 28) < 0.005


# ----- filled constructors -----------------------------------------------------------------
@pytest.mark.parametrize("make, value", [(torch.zeros, 0), (torch.ones, 1)])
def test_zeros_and_ones_take_sizes_as_varargs_or_a_sequence(make, value):
    for size in ((2, 3), ((2, 3),), ([2, 3],), (np.int64(2), 3)):
        x = make(*size)
        assert x.shape == (2, 3) and x.dtype == torch.float32
        np.testing.assert_array_equal(x.data, np.full((2, 3), value))
    assert make(()).shape == () and make(0).shape == (0,)
    assert make(2, dtype=torch.long).dtype == np.int64
    assert make(2, dtype=torch.bool).dtype == np.bool_
    x = make(2, 2, dtype=torch.float64, requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.dtype == np.float64


def test_full_takes_its_dtype_from_the_value_as_pytorch():
    assert torch.full((2,), 1.5).dtype == np.float32  # a Python float: the default dtype
    assert torch.full((2,), 3).dtype == np.int64
    assert torch.full((2,), True).dtype == np.bool_
    np.testing.assert_array_equal(torch.full((2, 2), 7, dtype=torch.float64).data, 7.0)
    np.testing.assert_array_equal(torch.full((1,), float("nan")).data, np.nan)


def test_full_refuses_a_value_its_dtype_cannot_hold():
    for value, dtype in ((1.5, torch.long), (float("nan"), torch.int64), (2, torch.bool),
                         (2 ** 63, torch.int64), (1e40, torch.float32)):
        with pytest.raises(ValueError, match=f"full: fill_value=.* cannot be stored exactly "
                                             f"as {np.dtype(dtype)}"):
            torch.full((2,), value, dtype=dtype)
    with pytest.raises(TypeError, match="full: expected fill_value to be a number, got str"):
        torch.full((2,), "1")


def test_empty_and_eye():
    x = torch.empty(2, 3, dtype=torch.float64)
    assert x.shape == (2, 3) and x.dtype == np.float64 and x.data.flags.writeable
    np.testing.assert_array_equal(torch.eye(3).data, np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(torch.eye(2, 3, dtype=torch.long).data, np.eye(2, 3))
    assert torch.eye(2).dtype == np.float32


# ----- ranges ------------------------------------------------------------------------------
def test_arange_dtype_follows_pytorch():
    x = torch.arange(5)
    assert x.dtype == np.int64 and x.tolist() == [0, 1, 2, 3, 4]
    assert torch.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert torch.arange(5, 0, -2).tolist() == [5, 3, 1]
    y = torch.arange(0, 1, 0.25)  # a float among the arguments: float32
    assert y.dtype == np.float32 and y.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.arange(3, dtype=torch.float64).dtype == np.float64
    assert torch.arange(0.0, 3.0, dtype=torch.long).tolist() == [0, 1, 2]
    assert torch.arange(0, 1, 0.1).shape == (10,)  # ceil((end - start) / step), as PyTorch
    assert torch.arange(torch.tensor(np.array(3))).tolist() == [0, 1, 2]


def test_arange_errors_name_the_function():
    with pytest.raises(ValueError, match="arange: step must be nonzero"):
        torch.arange(0, 3, 0)
    with pytest.raises(ValueError, match="arange: the range .* against the sign of step"):
        torch.arange(0, 3, -1)
    with pytest.raises(ValueError, match="arange: .* not integers"):
        torch.arange(0, 1, 0.5, dtype=torch.long)
    with pytest.raises(ValueError, match="arange: float32 holds integers exactly only up to"):
        torch.arange(2 ** 25 - 1, 2 ** 25 + 1, dtype=torch.float32)
    with pytest.raises(ValueError, match="arange: expected a finite end"):
        torch.arange(0, float("inf"))
    with pytest.raises(TypeError, match="arange: expected end to be a number, got str"):
        torch.arange("3")


def test_linspace():
    x = torch.linspace(0, 1, 5)
    assert x.dtype == np.float32 and x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert torch.linspace(-1, 1, 3, dtype=torch.float64).tolist() == [-1.0, 0.0, 1.0]
    assert torch.linspace(0, 1, 0).shape == (0,)
    with pytest.raises(ValueError, match="linspace: expected steps to be a non-negative int"):
        torch.linspace(0, 1, 2.0)
    with pytest.raises(TypeError, match="linspace: expected a floating point dtype, got int64"):
        torch.linspace(0, 1, 3, dtype=torch.long)


# ----- random ------------------------------------------------------------------------------
RANDOM = {
    "rand": lambda: torch.rand(3, 4),
    "randn": lambda: torch.randn((3, 4)),
    "randint": lambda: torch.randint(0, 10, (3, 4)),
    "randperm": lambda: torch.randperm(12),
    "rand_like": lambda: torch.rand_like(torch.zeros(3, 4)),
    "randn_like": lambda: torch.randn_like(torch.zeros(3, 4)),
    "randint_like": lambda: torch.randint_like(torch.zeros(3, 4), 10),
}


@pytest.mark.parametrize("name", RANDOM)
def test_random_constructors_repeat_after_manual_seed(name):
    torch.manual_seed(0)
    first = RANDOM[name]().data
    torch.manual_seed(0)
    again = RANDOM[name]().data
    different = RANDOM[name]().data  # the generator moved on
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, different)


def test_random_values_and_dtypes():
    torch.manual_seed(1)
    u = torch.rand(1000)
    assert u.dtype == np.float32 and 0 <= u.data.min() and u.data.max() < 1
    z = torch.randn(20000, dtype=torch.float64)
    assert z.dtype == np.float64 and abs(z.data.mean()) < 0.05 and abs(z.data.std() - 1) < 0.05
    k = torch.randint(3, 7, (1000,))
    assert k.dtype == np.int64 and set(k.tolist()) == {3, 4, 5, 6}
    assert set(torch.randint(4, (200,)).tolist()) == {0, 1, 2, 3}  # randint(high, size)
    assert set(torch.randint(4, size=(200,)).tolist()) == {0, 1, 2, 3}
    assert torch.randint(0, 5, (3,), dtype=torch.float32).dtype == np.float32
    p = torch.randperm(10)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
    assert torch.randn(2, 3, requires_grad=True).requires_grad
    ints = torch.zeros(5, dtype=torch.long)
    assert torch.randint_like(ints, 2, 5).dtype == np.int64
    assert torch.rand_like(torch.zeros(2, dtype=torch.float64)).dtype == np.float64


def test_random_constructors_refuse_what_they_cannot_make():
    with pytest.raises(TypeError, match="rand: expected a floating point dtype .* got int64"):
        torch.rand(3, dtype=torch.long)
    with pytest.raises(TypeError, match="randn_like: expected a floating point dtype"):
        torch.randn_like(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="randint: expected low < high, got low=5, high=5"):
        torch.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="randint: expected a size"):
        torch.randint(0, 5)
    with pytest.raises(TypeError, match="randint: expected high to be an int, got 2.5"):
        torch.randint(0, 2.5, (2,))
    with pytest.raises(ValueError, match="randint: float32 holds integers exactly only"):
        torch.randint(0, 2 ** 30, (2,), dtype=torch.float32)
    with pytest.raises(ValueError, match="randperm: expected n >= 0, got -1"):
        torch.randperm(-1)


# ----- *_like ------------------------------------------------------------------------------
def test_like_constructors_take_shape_and_dtype_of_their_input():
    x = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    for make, value in ((torch.zeros_like, 0), (torch.ones_like, 1),
                        (lambda t, **k: torch.full_like(t, 4, **k), 4)):
        y = make(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and not y.requires_grad
        np.testing.assert_array_equal(y.data, value)
        assert make(x, dtype=torch.long).dtype == np.int64
        assert make(x, requires_grad=True).requires_grad
        assert not np.shares_memory(y.data, x.data)
    assert torch.empty_like(x).shape == (2, 3)
    with pytest.raises(TypeError, match="zeros_like: expected input to be a minidl.Tensor, "
                                        "got ndarray"):
        torch.zeros_like(np.ones(2))


# ----- bad arguments, common to all ---------------------------------------------------------
@pytest.mark.parametrize("name, call", [
    ("zeros", lambda **k: torch.zeros(2, **k)), ("ones", lambda **k: torch.ones(2, **k)),
    ("empty", lambda **k: torch.empty(2, **k)), ("eye", lambda **k: torch.eye(2, **k)),
    ("rand", lambda **k: torch.rand(2, **k)), ("randn", lambda **k: torch.randn(2, **k)),
    ("full", lambda **k: torch.full((2,), 1.0, **k)),
    ("arange", lambda **k: torch.arange(2, **k)),
    ("linspace", lambda **k: torch.linspace(0, 1, 2, **k)),
    ("randint", lambda **k: torch.randint(0, 2, (2,), **k)),
    ("randperm", lambda **k: torch.randperm(2, **k))])
def test_bad_sizes_dtypes_and_flags_name_the_function(name, call):
    with pytest.raises(TypeError, match=f"{name}: expected a dtype of float32, float64, int64 "
                                        f"or bool, got float16"):
        call(dtype=np.float16)
    with pytest.raises(TypeError, match=f"{name}: expected a dtype .* got int32 \\(minidl's "
                                        f"integer tensors are int64"):
        call(dtype=torch.int32)
    with pytest.raises(TypeError, match=f"{name}: expected a dtype .* got 'banana'"):
        call(dtype="banana")
    with pytest.raises(TypeError, match=f"{name}: expected requires_grad to be True or False"):
        call(requires_grad=1)
    with pytest.raises(RuntimeError, match="minidl runs on the CPU only"):
        call(device="cuda")
    assert call(device="cpu").device == torch.device("cpu")
    assert call(device=torch.device("cpu")).shape[0] == 2


@pytest.mark.parametrize("call", [lambda: torch.zeros(2, dtype=torch.long, requires_grad=True),
                                  lambda: torch.arange(3, requires_grad=True),
                                  lambda: torch.randint(0, 3, (2,), requires_grad=True),
                                  lambda: torch.full((2,), True, requires_grad=True)])
def test_requires_grad_on_an_integer_or_bool_dtype_is_refused(call):
    with pytest.raises(TypeError, match=r"^\w+: only floating point tensors can require "
                                        r"gradients, got dtype (int64|bool)"):
        call()


@pytest.mark.parametrize("size", [(-1,), (2, -3), ((2, -1),)])
def test_negative_sizes_are_a_value_error(size):
    with pytest.raises(ValueError, match=r"zeros: expected non-negative sizes, got \("):
        torch.zeros(*size)


@pytest.mark.parametrize("size", [(2.0,), ((2, 3.0),), (True,), ("2",), ()])
def test_sizes_that_are_not_ints_are_a_type_error(size):
    with pytest.raises(TypeError, match="randn: expected (sizes as ints|a size)"):
        torch.randn(*size)


# ----- from_numpy: shares memory -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_shares_memory_both_ways(dtype):
    array = np.zeros((2, 3), dtype)
    x = torch.from_numpy(array)
    assert x.dtype == dtype and x.data is array
    array[0, 0] = 1
    assert x[0, 0].item() == 1  # a change to the array is seen by the tensor...
    if dtype != np.bool_:
        x.add_(1)
        assert array[1, 1] == 1  # ...and one made through the tensor by the array


def test_from_numpy_keeps_the_layout_and_shares_a_memmap(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    transposed = torch.from_numpy(array.T)
    assert transposed.shape == (4, 3) and np.shares_memory(transposed.data, array)
    np.testing.assert_array_equal((transposed * 2).data, array.T * 2)
    mapped = np.memmap(tmp_path / "data.bin", dtype=np.float32, mode="w+", shape=(4,))
    x = torch.from_numpy(mapped)
    x.fill_(3.0)
    mapped.flush()
    np.testing.assert_array_equal(np.fromfile(tmp_path / "data.bin", np.float32), 3.0)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float16, np.complex64, ">f4"])
def test_from_numpy_refuses_dtypes_it_cannot_share(dtype):
    with pytest.raises(TypeError, match="from_numpy: a tensor sharing memory must be float32, "
                                        "float64, int64 or bool, got an array of"):
        torch.from_numpy(np.zeros(2, dtype))


def test_from_numpy_refuses_what_is_not_an_array():
    with pytest.raises(TypeError, match="from_numpy: expected a NumPy array, got list; use "
                                        "minidl.tensor"):
        torch.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="from_numpy: expected a NumPy array, got float32"):
        torch.from_numpy(np.float32(1))
    with pytest.raises(TypeError, match="got a masked array"):
        torch.from_numpy(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def test_a_read_only_array_is_shared_read_only_and_nothing_writes_into_it():
    array = _read_only(np.ones((2, 3), np.float32))
    x = torch.from_numpy(array)
    assert x.data is array and not x.data.flags.writeable
    # reading, computing and backward work
    leaf = torch.from_numpy(array).requires_grad_()
    (leaf * 3.0).sum().backward()
    np.testing.assert_array_equal(leaf.grad.data, 3.0)
    # every way of writing into it stops with an error, before any kernel runs
    with pytest.raises(ValueError, match="read-only"):
        x.add_(1.0)
    with pytest.raises(ValueError, match="read-only"):
        x[0] = 2.0
    with pytest.raises(ValueError, match=r"Parameter\(tensor\): the tensor's array is "
                                         r"read-only"):
        nn.Parameter(x)
    layer = nn.Linear(3, 2)
    layer.weight.data = _read_only(np.ones((2, 3), np.float32))
    layer(torch.ones(4, 3)).sum().backward()
    with pytest.raises(ValueError, match="read-only"):
        minidl.optim.SGD(layer.parameters(), lr=0.1).step()
    np.testing.assert_array_equal(array, 1.0)


# ----- as_tensor: shares when it can ---------------------------------------------------------
def test_as_tensor_shares_an_array_of_a_minidl_dtype():
    array = np.ones(3, np.float32)
    x = torch.as_tensor(array)
    assert x.data is array
    assert torch.as_tensor(array, dtype=torch.float32).data is array
    assert torch.as_tensor(array, device="cpu").data is array


def test_as_tensor_returns_a_tensor_itself_or_converts_it():
    x = torch.ones(3)
    assert torch.as_tensor(x) is x and torch.as_tensor(x, dtype=torch.float32) is x
    assert torch.as_tensor(x, dtype=torch.float64).dtype == np.float64


def test_as_tensor_copies_what_it_cannot_share():
    ints = np.arange(3, dtype=np.int32)
    x = torch.as_tensor(ints)  # minidl.tensor's rule: integers become int64
    assert x.dtype == np.int64 and not np.shares_memory(x.data, ints)
    doubles = np.arange(3, dtype=np.float64)
    y = torch.as_tensor(doubles, dtype=torch.float32)  # the conversion asked for
    assert y.dtype == np.float32 and not np.shares_memory(y.data, doubles)
    assert torch.as_tensor([1, 2]).dtype == np.int64
    assert torch.as_tensor([1.5]).dtype == np.float64  # Python floats: float64, as minidl.tensor
    assert torch.as_tensor(2.5, dtype=torch.float32).dtype == np.float32
    with pytest.raises(TypeError, match="as_tensor: expected a dtype .* got int32"):
        torch.as_tensor(ints, dtype=torch.int32)
    with pytest.raises(TypeError, match="as_tensor"):
        torch.as_tensor(["a"])


def test_as_tensor_keeps_a_read_only_array_read_only():
    array = _read_only(np.ones(2))
    x = torch.as_tensor(array)
    assert x.data is array
    with pytest.raises(ValueError, match="read-only"):
        x.mul_(2.0)


def test_layers_compute_on_shared_read_only_and_strided_arrays(kernel_set):
    """from_numpy keeps the array's layout and flags: layers must take such tensors as they
    take their copies (the kernels get checked, contiguous arrays of their own)."""
    rng = np.random.default_rng(0)
    images = np.ascontiguousarray(rng.standard_normal((2, 3, 6, 4), dtype=np.float32))
    strided = _read_only(images.transpose(0, 1, 3, 2))  # (2, 3, 4, 6), not C-contiguous
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 2 * 4, 3))
    labels = torch.from_numpy(_read_only(np.array([0, 2])))
    results = []
    for inputs in (torch.from_numpy(strided), torch.tensor(np.ascontiguousarray(strided))):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        results.append((loss.item(), model[0].weight.grad.data.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(strided, images.transpose(0, 1, 3, 2))  # nothing written


# ----- Generator and generator= --------------------------------------------------------------
GENERATED = {
    "rand": lambda g: torch.rand(5, generator=g),
    "randn": lambda g: torch.randn(5, generator=g),
    "randint": lambda g: torch.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: torch.randperm(20, generator=g),
}


@pytest.mark.parametrize("name", GENERATED)
def test_a_generator_repeats_after_manual_seed_and_leaves_the_default_alone(name):
    torch.manual_seed(0)
    expected_default = torch.randn(3).data
    torch.manual_seed(0)
    first = GENERATED[name](torch.Generator().manual_seed(42)).data
    again = GENERATED[name](torch.Generator().manual_seed(42)).data
    other = GENERATED[name](torch.Generator().manual_seed(43)).data
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(torch.randn(3).data, expected_default)  # untouched


def test_generator_is_pytorchs_in_its_defaults_and_works_with_the_data_tools():
    g = torch.Generator()
    assert g.initial_seed() == 67280421310721  # torch.Generator's default seed
    np.testing.assert_array_equal(torch.rand(3, generator=g).data,
                                  torch.rand(3, generator=torch.Generator()).data)
    assert torch.Generator(device="cpu").manual_seed(7).initial_seed() == 7
    assert isinstance(g, np.random.Generator)  # NumPy's methods work on it
    data = torch.utils.data.TensorDataset(torch.arange(10))
    splits = [[list(s.indices) for s in torch.utils.data.random_split(
        data, [7, 3], generator=torch.Generator().manual_seed(42))] for _ in range(2)]
    assert splits[0] == splits[1]


def test_generator_errors():
    with pytest.raises(ValueError, match="Generator.manual_seed: expected a non-negative "
                                         "integer, got -1"):
        torch.Generator().manual_seed(-1)
    with pytest.raises(ValueError, match="manual_seed: expected a non-negative integer"):
        torch.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="minidl runs on the CPU only"):
        torch.Generator(device="cuda")
    with pytest.raises(TypeError, match="randn: expected generator to be a numpy.random."
                                        "Generator"):
        torch.randn(2, generator="seed")


def test_a_refused_call_draws_no_random_numbers():
    """Every argument is checked before memory is taken or a number drawn: a call that fails
    leaves minidl's generator where it was."""
    torch.manual_seed(0)
    expected = torch.randn(3).data
    torch.manual_seed(0)
    for refused in (lambda: torch.randn(3, requires_grad=1), lambda: torch.rand(3, device="cuda"),
                    lambda: torch.randint(0, 3, (2,), requires_grad=True),
                    lambda: torch.randperm(3, device="mps")):
        with pytest.raises((TypeError, RuntimeError)):
            refused()
    np.testing.assert_array_equal(torch.randn(3).data, expected)


def test_full_refuses_values_beyond_what_python_floats_hold():
    with pytest.raises(ValueError, match="full: fill_value=.* cannot be stored exactly as "
                                         "float32"):
        torch.full((1,), 10 ** 400, dtype=torch.float32)
    with pytest.raises(ValueError, match="cannot be stored exactly as int64"):
        torch.full((1,), float("inf"), dtype=torch.long)
    assert torch.full((1,), float("inf")).data[0] == np.inf  # infinity is a float32 value


@pytest.mark.parametrize("name, call", [
    ("empty_like", lambda x, **k: torch.empty_like(x, **k)),
    ("rand_like", lambda x, **k: torch.rand_like(x, **k)),
    ("randn_like", lambda x, **k: torch.randn_like(x, **k)),
    ("randint_like", lambda x, **k: torch.randint_like(x, 5, **k))])
def test_like_errors_name_the_like_function(name, call):
    with pytest.raises(TypeError, match=f"^{name}: expected requires_grad to be True or "
                                        f"False"):
        call(torch.zeros(2), requires_grad=1)
    with pytest.raises(RuntimeError, match=f"^{name}\\('cuda'\\): minidl runs on the CPU only"):
        call(torch.zeros(2), device="cuda")
    with pytest.raises(ValueError, match="^randint_like: expected low < high"):
        torch.randint_like(torch.zeros(2), 0)


# ----- minidl.tensor(data, dtype=, device=), as torch.tensor -----------------------------
def test_tensor_takes_dtype_and_device_as_torch_tensor():
    x = torch.tensor([[1, 2], [3, 4]], dtype=torch.float32)
    assert x.dtype == np.float32 and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert torch.tensor([0.1, 0.2], dtype=torch.float32).dtype == np.float32  # floats round
    assert torch.tensor(3, dtype=torch.long, device="cpu").item() == 3
    assert torch.tensor([1.0], device=torch.device("cpu")).dtype == np.float64  # as before
    mask = torch.tensor([True, False], dtype=torch.bool)  # booleans, when asked for
    assert mask.dtype == np.bool_ and mask.tolist() == [True, False]
    assert torch.tensor([True, False], dtype=torch.float32).tolist() == [1.0, 0.0]
    y = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert y.requires_grad and y.is_leaf


def test_tensor_with_a_dtype_copies():
    array = np.arange(6.0).reshape(2, 3).T  # float64, not C-contiguous
    x = torch.tensor(array, dtype=torch.float64)
    assert not np.shares_memory(x.data, array) and x.data.flags.c_contiguous
    source = torch.ones(2, dtype=torch.float64)
    copied = torch.tensor(source, dtype=torch.float64)
    assert not np.shares_memory(copied.data, source.data)


@pytest.mark.parametrize("values, dtype, first", [
    ([1.5, 2.0], torch.long, "1.5"), ([float("nan")], torch.long, "nan"),
    ([2.0], torch.bool, "2.0"), ([2 ** 53 + 1], torch.float64, str(2 ** 53 + 1)),
    ([1e300], torch.float32, "1e+300")])
def test_tensor_refuses_a_dtype_that_would_change_a_value(values, dtype, first):
    with pytest.raises(ValueError, match=f"minidl.tensor: 1 value\\(s\\) cannot be stored "
                                         f"exactly as {np.dtype(dtype)} \\(the first: "
                                         f"{re.escape(first)}\\)"):
        torch.tensor(values, dtype=dtype)


def test_tensor_dtype_and_device_errors():
    with pytest.raises(TypeError, match="minidl.tensor: expected a dtype .* got int32"):
        torch.tensor([1], dtype=torch.int32)
    with pytest.raises(TypeError, match="minidl.tensor: expected numbers"):
        torch.tensor(["a"], dtype=torch.float32)
    with pytest.raises(RuntimeError, match="minidl runs on the CPU only"):
        torch.tensor([1.0], device="cuda")
    with pytest.raises(ValueError, match="minidl.tensor: integers must lie in int64's range"):
        torch.tensor([2 ** 64], dtype=torch.float64)
    with pytest.raises(TypeError, match="expected numbers .* got booleans"):
        torch.tensor([True])  # without a dtype, minidl.tensor's rule is unchanged


def test_as_tensor_refuses_a_dtype_that_would_change_a_value():
    with pytest.raises(ValueError, match="as_tensor: 1 value\\(s\\) cannot be stored exactly "
                                         "as int64"):
        torch.as_tensor(np.array([1.5, 2.0]), dtype=torch.long)
    assert torch.as_tensor(np.array([1.0, 2.0]), dtype=torch.long).tolist() == [1, 2]
