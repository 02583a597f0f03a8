"""Input checks shared by the public entry points: expected-vs-got messages, raised before
any kernel runs (kernels themselves never validate)."""
from __future__ import annotations

import numbers

import numpy as np

from .tensor import Tensor

FLOAT32, FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
FLOAT_DTYPES = (FLOAT32, FLOAT64)


def is_plain_tensor(x, dtype: np.dtype) -> bool:
    """True for the common case that needs no detailed check: x is a Tensor of `dtype` (the
    layer's), which is float32 or float64. False means "run the full checks", which raise
    with a precise message or accept an unusual but valid input.

    Dtypes are compared by identity with NumPy's canonical float32/float64 objects (equal
    dtypes that are other objects take the full checks): layers call this once per step,
    where `dtype in FLOAT_DTYPES` and the property reads cost more than the rest of the call.
    """
    return (isinstance(x, Tensor) and (dtype is FLOAT32 or dtype is FLOAT64)
            and x.data.__class__ is np.ndarray and x.data.dtype is dtype)


def check_tensor(x, where: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: expected {name} to be a minidl.Tensor, got "
                        f"{type(x).__name__}; wrap arrays with minidl.tensor(array)")
    if not isinstance(x.data, np.ndarray):  # `.data` is the user's to replace
        raise TypeError(f"{where}: expected {name}.data to be a NumPy array, got "
                        f"{type(x.data).__name__}")
    return x


def check_float_tensor(x, where: str, name: str = "input") -> Tensor:
    check_tensor(x, where, name)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: expected {name} of dtype float32 or float64, got {x.dtype}")
    return x


def check_same_dtype(x: Tensor, reference: Tensor, where: str, name: str = "input",
                     reference_name: str = "the layer's parameters") -> None:
    if x.dtype != reference.dtype:
        raise TypeError(f"{where}: expected {name} of dtype {reference.dtype} (the dtype of "
                        f"{reference_name}), got {x.dtype}; nothing is cast silently: convert "
                        f"with .float() or .double() (a model too)")


def check_shape(x: Tensor, shape: tuple, where: str, name: str = "input") -> None:
    if x.shape != tuple(shape):
        raise ValueError(f"{where}: expected {name} of shape {tuple(shape)}, got {x.shape}")


def check_number(value, where: str, name: str, low=None, low_inclusive=True, high=None):
    """A real number (not bool) within [low, high] (or (low, ...) when not low_inclusive)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: expected {name} to be a number, got {value!r}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high or value != value:  # value != value: NaN
        bound = "[" if low_inclusive else "("
        low_text = "-inf" if low is None else low
        high_text = "inf" if high is None else high
        raise ValueError(f"{where}: expected {name} in {bound}{low_text}, {high_text}], "
                         f"got {value}")
    return value


def check_positive_int(value, where: str, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: expected {name} to be a positive integer, got {value!r}")
    return int(value)


def check_reduction(reduction, where: str) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{where}: expected reduction 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def check_pair(value, where: str, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as (int, int) (Conv2d/MaxPool2d arguments)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    valid = (isinstance(pair, (tuple, list)) and len(pair) == 2 and
             all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair))
    if not valid:
        raise TypeError(f"{where}: expected {name} to be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{where}: expected {name} >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_layer_dtype(dtype, where: str) -> np.dtype:
    """A layer's `dtype=` argument: float32 or float64 in any NumPy spelling (np.float32,
    'float32', np.dtype('float64'), ...), returned as NumPy's canonical dtype object (the one
    `is_plain_tensor` compares by identity). Anything else is a TypeError: float16 and
    longdouble would otherwise be stored as float32 parameters without a word, and None is
    NumPy's spelling of float64 by default, not a choice."""
    try:
        resolved = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):  # not a dtype at all
        resolved = None
    if resolved is not None and resolved in FLOAT_DTYPES and resolved.isnative:
        return FLOAT32 if resolved == FLOAT32 else FLOAT64
    if resolved is None:
        got = repr(dtype)
    elif not resolved.isnative:
        got = f"{resolved.name} in non-native byte order ({resolved.str!r})"
    else:
        got = resolved.name
    raise TypeError(f"{where}: expected float32 or float64, got {got}")


def is_plain_array(array, shape: tuple, dtype: np.dtype) -> bool:
    """The common case for a layer's own parameter or buffer array, checked cheaply (attribute
    comparisons, no copies): a NumPy ndarray of `shape` and of `dtype` (compared by identity,
    as in is_plain_tensor). False means "run check_state_array", which raises naming the
    array or accepts an unusual but valid one. Layers call this once per step for each of
    their arrays, because `.data` is the user's to replace: a bias shorter than the layer's
    outputs would make a kernel read past its end."""
    return array.__class__ is np.ndarray and array.dtype is dtype and array.shape == shape


def is_writable_in_place(array: np.ndarray) -> bool:
    """Whether `array` can be updated in place as one block: writeable and C-contiguous."""
    flags = array.flags
    return flags.writeable and flags.c_contiguous


def check_state_array(tensor: Tensor, shape: tuple, dtype, where: str, name: str,
                      updated_in_place: bool = False, dtype_of: str = "weight") -> None:
    """A parameter or buffer that reaches a kernel: its `.data` must be a NumPy array of
    `shape` and `dtype` (None: float32 or float64; else the dtype of the array `dtype_of`),
    and, if the layer updates it in place (running statistics), writeable and C-contiguous.
    Raises naming `name` otherwise."""
    array = tensor.data
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where}: expected {name}.data to be a NumPy array, got "
                        f"{type(array).__name__}")
    if dtype is None and array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: expected {name} of dtype float32 or float64, got "
                        f"{array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{where}: expected {name} of dtype {np.dtype(dtype)} (the dtype of "
                        f"{dtype_of}), got {array.dtype}; nothing is cast silently: convert "
                        f"the whole layer with .float() or .double()")
    if array.shape != tuple(shape):
        raise ValueError(f"{where}: expected {name} of shape {tuple(shape)}, got "
                         f"{array.shape}")
    if updated_in_place and not is_writable_in_place(array):
        problem = "read-only" if not array.flags.writeable else "not C-contiguous"
        raise ValueError(f"{where}: {name} is updated in place, so its array must be "
                         f"writeable and C-contiguous, got one that is {problem}; assign a "
                         f"copy: {name}.data = np.array({name}.data)")
