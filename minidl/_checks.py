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
            and x.data.dtype is dtype)


def check_tensor(x, where: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: expected {name} to be a minidl.Tensor, got "
                        f"{type(x).__name__}; wrap arrays with minidl.tensor(array)")
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
