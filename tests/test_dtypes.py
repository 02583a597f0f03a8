"""dtype objects under PyTorch's names (issue 12): minidl.float32, float64, float, double,
int64, long, int32 and bool are NumPy's dtype objects, so they work wherever a dtype is taken
(constructors, Tensor.to/.type, Module.to, layers' dtype=) and in `x.dtype == minidl.float32`.
int32 names a dtype minidl has no tensors of: every use is a TypeError, never an int64 tensor
under the name int32. Before, none of these names existed (AttributeError), and
`Tensor.to` accepted a float32 of non-native byte order as a dtype (it made a big-endian
tensor that the layers' fast path does not recognise)."""
import numpy as np
import pytest

import minidl
import minidl as torch
from minidl import nn

ALIASES = [("float32", np.float32), ("float", np.float32), ("float64", np.float64),
           ("double", np.float64), ("int64", np.int64), ("long", np.int64),
           ("bool", np.bool_), ("int32", np.int32)]


@pytest.mark.parametrize("name, numpy_type", ALIASES)
def test_the_names_are_numpys_canonical_dtype_objects(name, numpy_type):
    dtype = getattr(minidl, name)
    assert dtype == numpy_type
    assert dtype is np.dtype(numpy_type)  # the object layers compare by identity


def test_dtypes_compare_with_tensors_dtypes():
    assert torch.zeros(2).dtype == torch.float32 == torch.float
    assert torch.zeros(2, dtype=torch.double).dtype == torch.float64
    assert torch.arange(3).dtype == torch.long == torch.int64
    assert (torch.zeros(2) > 0).dtype == torch.bool
    assert torch.zeros(2).dtype != torch.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float, torch.float64, torch.double,
                                   torch.int64, torch.long, torch.bool])
def test_every_tensor_dtype_works_in_constructors_and_casts(dtype):
    assert torch.zeros(2, dtype=dtype).dtype == dtype
    assert torch.ones(2).to(dtype).dtype == dtype
    assert torch.ones(2).type(dtype).dtype == dtype
    assert torch.ones(2).to(dtype=dtype).dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float, torch.double])
def test_layers_and_modules_take_the_float_dtypes(dtype):
    layer = nn.Linear(3, 2, dtype=dtype)
    assert layer.weight.dtype is np.dtype(dtype)  # canonical: the layers' fast path applies
    model = nn.Linear(3, 2).to(dtype)
    assert model.weight.dtype == dtype and model.bias.dtype == dtype
    assert model(torch.ones(4, 3, dtype=dtype)).dtype == dtype


def test_int32_can_be_named_but_no_int32_tensor_can_be_made():
    message = r"got int32 \(minidl's integer tensors are int64: use minidl.int64"
    with pytest.raises(TypeError, match="zeros: expected a dtype .*" + message):
        torch.zeros(2, dtype=torch.int32)
    with pytest.raises(TypeError, match="to: expected a dtype .*" + message):
        torch.arange(3).to(torch.int32)
    with pytest.raises(TypeError, match=message):
        torch.arange(3).type(torch.int32)
    with pytest.raises(TypeError, match="from_numpy: .* got an array of int32"):
        torch.from_numpy(np.arange(3, dtype=np.int32))


def test_the_python_types_mean_what_they_mean_in_pytorch():
    assert torch.zeros(2, dtype=float).dtype == np.float64  # torch.zeros(2, dtype=float) too
    assert torch.zeros(2, dtype=int).dtype == np.int64
    assert torch.zeros(2, dtype=bool).dtype == np.bool_
    assert torch.zeros(2, dtype="float").dtype == np.float32  # PyTorch's torch.float


@pytest.mark.parametrize("dtype", [">f4", ">f8", np.dtype("float32").newbyteorder()])
def test_non_native_byte_order_is_refused_not_stored(dtype):
    with pytest.raises(TypeError, match="in non-native byte order"):
        torch.ones(2).to(dtype)
    with pytest.raises(TypeError, match="in non-native byte order"):
        torch.zeros(2, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.int16, np.complex64, np.longdouble,
                                   "banana", None.__class__])
def test_other_dtypes_are_a_type_error(dtype):
    with pytest.raises(TypeError, match="expected a dtype of float32, float64, int64 or bool"):
        torch.ones(2).to(dtype)


@pytest.mark.parametrize("not_a_dtype", [np.zeros(1, np.float64), torch.zeros(1)])
def test_an_object_with_a_dtype_attribute_is_not_a_dtype(not_a_dtype):
    """np.dtype(obj) reads obj.dtype: before, x.to(np.zeros(1)) silently made x float64 and
    zeros(2, dtype=tensor) a float32 tensor. (to(tensor) is PyTorch's to(other): below.)"""
    name = type(not_a_dtype).__name__
    with pytest.raises(TypeError, match=f"zeros: expected a dtype .* got an object of type "
                                        f"{name}"):
        torch.zeros(2, dtype=not_a_dtype)
    with pytest.raises(TypeError, match=f"as_tensor: expected a dtype .* got an object of type "
                                        f"{name}"):
        torch.as_tensor(np.ones(2), dtype=not_a_dtype)
    if isinstance(not_a_dtype, np.ndarray):
        with pytest.raises(TypeError, match=f"to: expected a dtype .* of type {name}"):
            torch.ones(2).to(not_a_dtype)
    else:
        assert torch.ones(2, dtype=torch.float64).to(not_a_dtype).dtype == np.float32


def test_a_star_import_leaves_the_builtins_float_and_bool_alone():
    namespace = {}
    exec("from minidl import *", namespace)
    assert "float" not in namespace and "bool" not in namespace
    assert namespace["float32"] is torch.float32 and namespace["long"] is torch.int64
    assert torch.float is torch.float32 and torch.bool is np.dtype(np.bool_)  # still attributes
