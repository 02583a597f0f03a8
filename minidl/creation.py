"""Tensor constructors under PyTorch's names and defaults: zeros, ones, full, empty, eye,
arange, linspace, rand, randn, randint, randperm, the *_like forms, from_numpy and as_tensor.

Each takes `dtype=` (see minidl/dtypes.py: float32, float64, int64 or bool), `requires_grad=`
(floating point dtypes only) and `device=` ("cpu" only), as PyTorch's do. Sizes come as
varargs or one sequence: zeros(2, 3) is zeros((2, 3)). Default dtypes are PyTorch's: float32
for floating values, int64 for integers (arange and full of ints, randint, randperm), bool for
full of a bool. Random constructors draw from minidl's generator, so `minidl.manual_seed(0)`
makes them repeat. A value the dtype cannot hold exactly (full((2,), 1.5, dtype=minidl.long))
is an error, never rounded.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .device import device_argument
from .dtypes import FLOATING, TENSOR_DTYPES, convert_exactly, dtype_argument, float32, int64
from .ops.shape import shape_argument
from .tensor import Tensor, _as_array

__all__ = ["zeros", "ones", "full", "empty", "eye", "arange", "linspace", "rand", "randn",
           "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like",
           "rand_like", "randn_like", "randint_like", "from_numpy", "as_tensor"]

_BOOL = TENSOR_DTYPES["bool"]
# the largest integer every value up to which a float dtype holds exactly (2**24, 2**53)
_EXACT_INTEGERS = {np.dtype(np.float32): 2 ** 24, np.dtype(np.float64): 2 ** 53}


# ----- the checks every constructor shares -------------------------------------------------
def _size(size: tuple, where: str) -> tuple:
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) all mean the shape (2, 3)."""
    if not size:
        raise TypeError(f"{where}: expected a size (ints, or one tuple of ints), got none")
    shape = shape_argument(size, where)
    if any(length < 0 for length in shape):
        raise ValueError(f"{where}: expected non-negative sizes, got {shape}")
    return shape


def _dtype(dtype, default: np.dtype, where: str) -> np.dtype:
    return default if dtype is None else dtype_argument(dtype, where)


def _check_options(dtype: np.dtype, requires_grad, device, where: str) -> None:
    """requires_grad= and device=, checked before any memory is taken or number drawn."""
    if device is not None:
        device_argument(device, where)
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise TypeError(f"{where}: expected requires_grad to be True or False, got "
                        f"{requires_grad!r}")
    if requires_grad and dtype not in FLOATING:
        raise TypeError(f"{where}: only floating point tensors can require gradients, got "
                        f"dtype {dtype}; pass dtype=minidl.float32 (or float64)")


def _leaf(array: np.ndarray, requires_grad) -> Tensor:
    """A new array as a leaf tensor (the options were checked by _check_options)."""
    return Tensor._wrap(array, requires_grad=bool(requires_grad))


def _number(value, where: str, name: str):
    """A Python or NumPy real number (bool included), or a one-element Tensor's value."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{where}: expected {name} to be a number, got {value.__class__.__name__}")


def _exactly(value, dtype: np.dtype, where: str, name: str):
    """`value` as a scalar of `dtype`, or a ValueError if the dtype cannot hold it (1.5 or NaN
    as an integer, 2 as a bool, 1e40 as float32: each would be changed, not stored)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            stored = dtype.type(value)
    except (OverflowError, ValueError):  # NaN or infinity as an integer, ints beyond range
        stored = None
    if dtype.kind == "f":  # rounding is a float's nature; overflowing to infinity is not
        fits = stored is not None and not (math.isinf(stored) and not math.isinf(value))
    else:
        fits = stored is not None and stored == value  # 1.5 -> 1, 2 -> True do not hold
    if not fits:
        raise ValueError(f"{where}: {name}={value!r} cannot be stored exactly as {dtype}; "
                         f"pass a dtype that holds it (e.g. dtype=minidl.float64)")
    return stored


def _check_integers_exact(low: int, high: int, dtype: np.dtype, where: str) -> None:
    """Integers drawn in [low, high) stay exact in `dtype` (randint/randperm of floats)."""
    if dtype.kind == "f" and max(abs(low), abs(high)) > _EXACT_INTEGERS[dtype]:
        raise ValueError(f"{where}: {dtype} holds integers exactly only up to "
                         f"{_EXACT_INTEGERS[dtype]}, got the range [{low}, {high}); use "
                         f"dtype=minidl.int64")
    if dtype.kind == "b":
        raise TypeError(f"{where}: expected an int64 or floating point dtype, got bool")


# ----- filled -------------------------------------------------------------------------------
def zeros(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of zeros, float32 unless dtype= says otherwise: zeros(2, 3) or zeros((2, 3))."""
    return _filled(_size(size, "zeros"), 0, _dtype(dtype, float32, "zeros"), requires_grad,
                   device, "zeros")


def ones(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of ones, float32 unless dtype= says otherwise: ones(2, 3) or ones((2, 3))."""
    return _filled(_size(size, "ones"), 1, _dtype(dtype, float32, "ones"), requires_grad,
                   device, "ones")


def full(size, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of `size` (a sequence, as PyTorch's) filled with `fill_value`; its dtype
    follows the value when not given: bool, int64 for an int, float32 for a float."""
    fill_value = _number(fill_value, "full", "fill_value")
    return _filled(_size((size,), "full"), fill_value,
                   _dtype(dtype, _default_dtype_of(fill_value), "full"), requires_grad, device,
                   "full")


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor whose values are arbitrary (whatever the memory held), as PyTorch's: write
    every element before reading one."""
    return _empty(_size(size, "empty"), _dtype(dtype, float32, "empty"), requires_grad, device,
                  "empty")


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """The (n, m) identity matrix (m defaults to n), float32 unless dtype= says otherwise."""
    rows, columns = _size((n, n if m is None else m), "eye")
    dtype = _dtype(dtype, float32, "eye")
    _check_options(dtype, requires_grad, device, "eye")
    return _leaf(np.eye(rows, columns, dtype=dtype), requires_grad)


def _empty(shape, dtype, requires_grad, device, where: str) -> Tensor:
    _check_options(dtype, requires_grad, device, where)
    return _leaf(np.empty(shape, dtype=dtype), requires_grad)


def _filled(shape, value, dtype, requires_grad, device, where: str) -> Tensor:
    stored = _exactly(value, dtype, where, "fill_value")
    _check_options(dtype, requires_grad, device, where)
    return _leaf(np.full(shape, stored, dtype=dtype), requires_grad)


def _default_dtype_of(value) -> np.dtype:
    """PyTorch's dtype for a Python number: bool, int64 for integers, float32 for floats."""
    if isinstance(value, (bool, np.bool_)):
        return _BOOL
    return int64 if isinstance(value, numbers.Integral) else float32


# ----- ranges -------------------------------------------------------------------------------
def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Values from `start` (default 0) up to, not including, `end`, `step` apart: arange(5),
    arange(1, 4), arange(0, 1, 0.25). int64 when all three are ints, else float32, as PyTorch.
    A float range is start + i * step computed in float64, then stored in the dtype."""
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v, "arange", name) for v, name in
                        ((start, "start"), (end, "end"), (step, "step")))
    for value, name in ((start, "start"), (end, "end"), (step, "step")):
        if not math.isfinite(value):
            raise ValueError(f"arange: expected a finite {name}, got {value}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: the range from start={start} to end={end} runs against the "
                         f"sign of step={step}")
    all_ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = _dtype(dtype, int64 if all_ints else float32, "arange")
    _check_options(dtype, requires_grad, device, "arange")
    if all_ints:
        values = np.arange(int(start), int(end), int(step), dtype=np.int64)
    else:
        count = math.ceil((end - start) / step)
        values = start + np.arange(count, dtype=np.float64) * step
    _check_range_fits(values, dtype)
    return _leaf(values.astype(dtype), requires_grad)


def _check_range_fits(values: np.ndarray, dtype: np.dtype) -> None:
    if values.size == 0 or dtype.kind == "f" and values.dtype.kind == "f":
        return  # a float range in float32 rounds as PyTorch's does: not a change of value
    if dtype.kind == "b":
        raise TypeError("arange: expected an int64 or floating point dtype, got bool")
    low, high = values.min(), values.max()
    if dtype.kind == "f":
        _check_integers_exact(int(low), int(high), dtype, "arange")
    elif (values != np.trunc(values)).any():
        raise ValueError(f"arange: the values are not integers, so dtype {dtype} cannot hold "
                         f"them; use a floating point dtype")


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None) -> Tensor:
    """`steps` values evenly spaced from `start` to `end`, both included (float32 unless
    dtype= says otherwise)."""
    start = _number(start, "linspace", "start")
    end = _number(end, "linspace", "end")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"linspace: expected steps to be a non-negative int, got {steps!r}")
    dtype = _dtype(dtype, float32, "linspace")
    if dtype.kind != "f":
        raise TypeError(f"linspace: expected a floating point dtype, got {dtype}")
    _check_options(dtype, requires_grad, device, "linspace")
    values = np.linspace(start, end, int(steps), dtype=np.float64)
    return _leaf(values.astype(dtype), requires_grad)


# ----- random: drawn from minidl's generator (minidl.manual_seed) or generator= ------------
def rand(*size, generator=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Uniform values in [0, 1), float32 unless dtype= says otherwise."""
    return _uniform(_size(size, "rand"), _dtype(dtype, float32, "rand"), generator,
                    requires_grad, device, "rand")


def randn(*size, generator=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Standard normal values (mean 0, variance 1), float32 unless dtype= says otherwise."""
    return _normal(_size(size, "randn"), _dtype(dtype, float32, "randn"), generator,
                   requires_grad, device, "randn")


def randint(low, high=None, size=None, generator=None, dtype=None, requires_grad=False,
            device=None) -> Tensor:
    """Integers drawn uniformly from [low, high) (low defaults to 0): randint(10, (3,)) or
    randint(1, 7, (3,)). `size` is a sequence, as PyTorch's; int64 unless dtype= says
    otherwise (a float dtype holds the integers exactly or is refused)."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size)
    elif high is None:
        low, high = 0, low  # randint(high, size=size)
    if size is None:
        raise TypeError("randint: expected a size (a tuple of ints), e.g. randint(10, (3,))")
    return _integers(low, high, _size((size,), "randint"), _dtype(dtype, int64, "randint"),
                     generator, requires_grad, device, "randint")


def randperm(n, generator=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A random permutation of 0, ..., n - 1 (int64 unless dtype= says otherwise)."""
    n = _integer(n, "randperm", "n")
    if n < 0:
        raise ValueError(f"randperm: expected n >= 0, got {n}")
    dtype = _dtype(dtype, int64, "randperm")
    _check_integers_exact(0, n, dtype, "randperm")
    _check_options(dtype, requires_grad, device, "randperm")
    array = _generator(generator, "randperm").permutation(n).astype(dtype)
    return _leaf(array, requires_grad)


def _uniform(shape, dtype, generator, requires_grad, device, where: str) -> Tensor:
    dtype = _float_dtype(dtype, where)
    _check_options(dtype, requires_grad, device, where)
    return _leaf(_generator(generator, where).random(shape, dtype=dtype), requires_grad)


def _normal(shape, dtype, generator, requires_grad, device, where: str) -> Tensor:
    dtype = _float_dtype(dtype, where)
    _check_options(dtype, requires_grad, device, where)
    array = _generator(generator, where).standard_normal(shape, dtype=dtype)
    return _leaf(array, requires_grad)


def _integers(low, high, shape, dtype, generator, requires_grad, device, where: str) -> Tensor:
    low, high = (_integer(v, where, name) for v, name in ((low, "low"), (high, "high")))
    if low >= high:
        raise ValueError(f"{where}: expected low < high, got low={low}, high={high}")
    _check_integers_exact(low, high, dtype, where)
    _check_options(dtype, requires_grad, device, where)
    array = _generator(generator, where).integers(low, high, shape, dtype=np.int64)
    return _leaf(array.astype(dtype), requires_grad)


def _generator(generator, where: str) -> np.random.Generator:
    """generator=: None is minidl's generator (minidl.manual_seed); else a minidl.Generator,
    any numpy.random.Generator or an int seed (the rule of DataLoader and random_split)."""
    from .data.split import shuffling_generator  # here: minidl.data imports much of minidl
    return shuffling_generator(generator, where)


def _float_dtype(dtype: np.dtype, where: str) -> np.dtype:
    if dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating point dtype (float32 or float64), got "
                        f"{dtype}; for random integers use minidl.randint")
    return dtype


def _integer(value, where: str, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: expected {name} to be an int, got {value!r}")
    return int(value)


# ----- *_like: the shape (and by default the dtype) of another tensor -----------------------
def _like(input, dtype, where: str) -> tuple:
    if not isinstance(input, Tensor):
        raise TypeError(f"{where}: expected input to be a minidl.Tensor, got "
                        f"{input.__class__.__name__}; for an array use e.g. "
                        f"minidl.zeros(array.shape)")
    return input.shape, _dtype(dtype, input.dtype, where)


def zeros_like(input, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "zeros_like")
    return _filled(shape, 0, dtype, requires_grad, device, "zeros_like")


def ones_like(input, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "ones_like")
    return _filled(shape, 1, dtype, requires_grad, device, "ones_like")


def full_like(input, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "full_like")
    fill_value = _number(fill_value, "full_like", "fill_value")
    return _filled(shape, fill_value, dtype, requires_grad, device, "full_like")


def empty_like(input, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "empty_like")
    return _empty(shape, dtype, requires_grad, device, "empty_like")


def rand_like(input, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "rand_like")
    return _uniform(shape, dtype, None, requires_grad, device, "rand_like")


def randn_like(input, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape, dtype = _like(input, dtype, "randn_like")
    return _normal(shape, dtype, None, requires_grad, device, "randn_like")


def randint_like(input, low, high=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """randint_like(x, high) or randint_like(x, low, high): x's shape and (default) dtype."""
    shape, dtype = _like(input, dtype, "randint_like")
    if high is None:
        low, high = 0, low
    return _integers(low, high, shape, dtype, None, requires_grad, device, "randint_like")


# ----- from NumPy: sharing memory -----------------------------------------------------------
def from_numpy(array) -> Tensor:
    """A tensor that shares `array`'s memory, as PyTorch's: writes through either are seen by
    both. The array keeps its layout and must already have one of minidl's dtypes (float32,
    float64, int64, bool, in native byte order): sharing rules out converting, so any other
    dtype is a TypeError (minidl.tensor(array) copies and converts).

    A read-only array (np.load(..., mmap_mode="r"), np.broadcast_to) is shared read-only
    (PyTorch shares it too, with a warning, and lets writes through): everything that writes
    into a tensor checks first, so an in-place op raises, an optimizer refuses the parameter
    and nn.Parameter(tensor) refuses it; reading, computing and backward work.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {array.__class__.__name__}"
                        + ("; use minidl.tensor(values)" if isinstance(array, (list, tuple))
                           else ""))
    if isinstance(array, np.ma.MaskedArray):
        raise TypeError("from_numpy: expected a NumPy array, got a masked array, whose mask a "
                        "tensor cannot keep; fill it first: array.filled(value)")
    dtype = array.dtype
    if not (dtype.isnative and TENSOR_DTYPES.get(dtype.name) == dtype):
        shown = dtype.name if dtype.isnative else f"{dtype.name} in non-native byte order"
        raise TypeError(f"from_numpy: a tensor sharing memory must be float32, float64, int64 "
                        f"or bool, got an array of {shown}; minidl.tensor(array) copies it "
                        f"into a minidl dtype, or convert first, e.g. array.astype(np.int64)")
    # np.memmap and other ndarray subclasses: a plain view of the same memory
    return Tensor._wrap(array if array.__class__ is np.ndarray else array.view(np.ndarray))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor, sharing memory when it can, as PyTorch's: a Tensor of the dtype
    asked for is returned as it is, a NumPy array of a minidl dtype is shared (from_numpy);
    otherwise the values are copied into a new tensor, by minidl.tensor's rule (ints become
    int64, float16 float32) or into `dtype`, which must hold every value exactly (floats may
    round to float32; 1.5 does not become the integer 1)."""
    if device is not None:
        device_argument(device, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype_argument(dtype, "as_tensor"))
    if dtype is not None:
        dtype = dtype_argument(dtype, "as_tensor")
    if isinstance(data, np.ndarray) and _shareable(data, dtype):
        return from_numpy(data)
    array = _as_array(data, "as_tensor")  # data's own memory when it fits, else converted
    if dtype is not None:
        array = convert_exactly(array, dtype, "as_tensor")  # the conversion asked for
    return Tensor._wrap(array)


def _shareable(array: np.ndarray, dtype) -> bool:
    return (TENSOR_DTYPES.get(array.dtype.name) == array.dtype and array.dtype.isnative
            and not isinstance(array, np.ma.MaskedArray)
            and (dtype is None or dtype == array.dtype))
