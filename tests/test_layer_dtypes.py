"""Layers' `dtype=` argument (issue 11, item 14): exactly float32 and float64 in any NumPy
spelling; anything else a TypeError "expected float32 or float64, got ...", from one shared
check (minidl._checks.check_layer_dtype). Before, float16 and longdouble silently gave float32
parameters and int32 was refused with a message naming int64."""
import numpy as np
import pytest

import minidl
from minidl import nn

LAYERS = {
    "Linear": lambda dtype: nn.Linear(3, 2, dtype=dtype),
    "Conv2d": lambda dtype: nn.Conv2d(1, 2, 3, dtype=dtype),
    "BatchNorm1d": lambda dtype: nn.BatchNorm1d(3, dtype=dtype),
    "BatchNorm2d": lambda dtype: nn.BatchNorm2d(3, dtype=dtype),
    "BatchNorm1d(affine=False)": lambda dtype: nn.BatchNorm1d(3, affine=False, dtype=dtype),
}


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32), (np.float64, np.float64), ("float32", np.float32),
    ("float64", np.float64), (np.dtype(np.float32), np.float32),
    (np.dtype("float64"), np.float64)])
def test_float32_and_float64_are_accepted(layer, dtype, expected):
    module = LAYERS[layer](dtype)
    state = list(module.parameters()) + [b for b in module.buffers() if b.dtype.kind == "f"]
    assert state and all(tensor.dtype == expected for tensor in state)
    # the canonical dtype object, which the layers' fast path compares by identity
    assert all(tensor.dtype is np.dtype(expected) for tensor in state)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("dtype, got", [
    (np.float16, "float16"), ("float16", "float16"), (np.dtype(np.float16), "float16"),
    (np.longdouble, np.dtype(np.longdouble).name), (np.int32, "int32"), (np.int64, "int64"),
    (np.complex64, "complex64"), (bool, "bool"), (None, "None"), ("no-such-type", "'no-such-type'"),
    (np.dtype(">f4"), "float32 in non-native byte order"), ([1, 2], r"\[1, 2\]")])
def test_other_dtypes_are_refused_naming_what_came(layer, dtype, got):
    with pytest.raises(TypeError, match=r"expected float32 or float64, got " + got):
        LAYERS[layer](dtype)


def test_the_message_names_the_layer():
    with pytest.raises(TypeError, match=r"^Linear\(3, 2\): expected float32 or float64, got "
                                        r"float16$"):
        nn.Linear(3, 2, dtype=np.float16)
    with pytest.raises(TypeError, match=r"^BatchNorm2d\(3\): expected float32 or float64, got "
                                        r"int32$"):
        nn.BatchNorm2d(3, dtype="int32")


def test_float64_layer_trains_in_float64():
    layer = nn.Linear(3, 2, dtype="float64")
    x = minidl.tensor(np.ones((4, 3), np.float64))
    layer(x).sum().backward()
    assert layer.weight.grad.dtype == np.float64
