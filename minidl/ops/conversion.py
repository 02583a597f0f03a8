"""dtype conversions (float(), double(), long(), int(), bool(), to(...), type(dtype)), clone
and contiguous. Conversions to float types carry gradients; to integer and bool types they
leave the graph (a gradient cannot be rounded). `to` also takes PyTorch's devices: the CPU,
the one minidl has (minidl/device.py)."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.engine import Node
from ..device import ACCELERATORS, device, device_argument
from ..tensor import Tensor

DTYPES = dtypes.TENSOR_DTYPES


class Cast(Node):
    saves_inputs = False

    def forward(self, a, dtype):
        self.input_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, grad_output):
        return grad_output.astype(self.input_dtype), None


class Clone(Node):
    saves_inputs = False

    def forward(self, a):
        return np.array(a, copy=True, order="C")

    def backward(self, grad_output):
        return (grad_output,)


def dtype_argument(dtype, where: str) -> np.dtype:
    """One of minidl's dtypes from a minidl/NumPy dtype, a NumPy type or a name."""
    return dtypes.dtype_argument(dtype, where)


def to_arguments(args: tuple, kwargs: dict, where: str):
    """The dtype (None: unchanged) and copy flag that PyTorch's forms of `to` ask for:
    to(dtype), to(device), to(device, dtype), to(other_tensor), to(device=..., dtype=...),
    each optionally followed by non_blocking and copy. The device is checked (the CPU only)
    and then has nothing to change; non_blocking changes nothing on the CPU either."""
    target_device, dtype, flags = _positional_to_arguments(args, where)
    options = dict(kwargs)
    for name, value in (("device", target_device), ("dtype", dtype)):
        if name in options and value is not None:
            raise TypeError(f"{where}: {name} given twice, positionally and as {name}=")
    target_device = options.pop("device", target_device)
    dtype = options.pop("dtype", dtype)
    for name in ("non_blocking", "copy"):
        flags[name] = options.pop(name, flags[name])
        if not isinstance(flags[name], bool):
            raise TypeError(f"{where}: expected {name} to be True or False, got "
                            f"{flags[name]!r}")
    if options:
        raise TypeError(f"{where}: unexpected keyword argument(s) {sorted(options)}")
    if target_device is not None:
        device_argument(target_device, where)
    return (None if dtype is None else dtype_argument(dtype, where)), flags["copy"]


def _positional_to_arguments(args: tuple, where: str):
    """(device, dtype, flags) from to(dtype | device | tensor [, dtype] [, non_blocking, copy])."""
    positional = list(args)
    trailing = []  # to(..., non_blocking, copy) given positionally
    while len(positional) > 1 and isinstance(positional[-1], bool) and len(trailing) < 2:
        trailing.insert(0, positional.pop())
    flags = {"non_blocking": False, "copy": False}
    flags.update(zip(("non_blocking", "copy"), trailing))
    target_device = dtype = None
    for value in positional:
        if dtype is not None:  # nothing comes after the dtype
            raise TypeError(f"{where}: expected to(dtype), to(device), to(device, dtype) or "
                            f"to(tensor), got arguments {args!r}")
        if isinstance(value, Tensor) and target_device is None:
            target_device, dtype = value.device, value.dtype
        elif _is_device(value) and target_device is None:
            target_device = value
        elif not isinstance(value, Tensor) and not _is_device(value):
            dtype = value
        else:
            raise TypeError(f"{where}: expected to(dtype), to(device), to(device, dtype) or "
                            f"to(tensor), got arguments {args!r}")
    return target_device, dtype, flags


def _is_device(value) -> bool:
    """A device, an int (PyTorch's accelerator ordinal) or a string naming a device type."""
    if isinstance(value, device) or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    return isinstance(value, str) and value.split(":")[0] in ("cpu",) + ACCELERATORS


def to(a: Tensor, *args, **kwargs) -> Tensor:
    """Tensor.to: the same tensor when nothing changes (copy=True: a copy), as PyTorch's."""
    dtype, copy = to_arguments(args, kwargs, "to")
    result = a if dtype is None else cast(a, dtype)
    return clone(result) if copy and result is a else result


def cast(a: Tensor, dtype) -> Tensor:
    dtype = dtype_argument(dtype, "to(dtype)")
    if dtype == a.dtype:
        return a  # as PyTorch's .to(): the same tensor when nothing changes
    if dtype.kind != "f":
        return Tensor._wrap(a.data.astype(dtype))  # no gradient through a rounding
    return Cast.apply(a, dtype)


def clone(a: Tensor) -> Tensor:
    return Clone.apply(a)


def contiguous(a: Tensor) -> Tensor:
    return a if a.data.flags.c_contiguous else clone(a)
