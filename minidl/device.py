"""PyTorch's device API, telling the truth: minidl runs on the CPU, so `device("cpu")` is the
one device there is, `.to("cpu")` changes nothing, and asking for a GPU ("cuda", "mps", ...)
raises an error that says so. The idiom

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

picks the CPU, since minidl.cuda.is_available() is False.
"""
from __future__ import annotations

import numbers

# the accelerators PyTorch names: valid device types there, absent here
ACCELERATORS = ("cuda", "mps", "xpu", "xla", "hip", "meta", "mtia", "ipu", "hpu", "vulkan")


class DeviceUnavailableError(RuntimeError):
    """A device PyTorch knows but minidl does not have (a RuntimeError, as in PyTorch)."""


def cpu_only(request: str) -> DeviceUnavailableError:
    return DeviceUnavailableError(f"{request}: minidl runs on the CPU only (it has no CUDA, MPS "
                                  f"or other accelerator support); use 'cpu', or "
                                  f"minidl.device('cuda' if minidl.cuda.is_available() else "
                                  f"'cpu'), which picks the CPU")


class device:
    """device("cpu"), device("cpu:0"), device("cpu", 0) or device(type="cpu"), as torch.device.

    `.type` is "cpu"; `.index` is None unless given (PyTorch's rule: device("cpu") and
    device("cpu:0") differ in index, and tensors report device("cpu")).
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            if index is not None:
                raise ValueError(f"device({type!r}, {index!r}): give the index in one place")
            type, index = type.type, type.index
        if isinstance(type, numbers.Integral) and not isinstance(type, bool):
            raise cpu_only(f"device({type!r})")  # device(0) is CUDA device 0 in PyTorch
        if not isinstance(type, str):
            raise TypeError(f"device: expected a device string such as 'cpu' or a device, got "
                            f"{type.__class__.__name__}")
        name, _, index_text = type.partition(":")
        if index_text:
            if index is not None:
                raise ValueError(f"device({type!r}, {index!r}): give the index in one place")
            if not index_text.isdigit():
                raise ValueError(f"device: expected 'cpu' or 'cpu:<index>', got {type!r}")
            index = int(index_text)
        if name in ACCELERATORS:
            raise cpu_only(f"device({type!r})")
        if name != "cpu":
            raise ValueError(f"device: expected 'cpu' (minidl runs on the CPU), got {type!r}")
        object.__setattr__(self, "_type", name)
        object.__setattr__(self, "_index", _check_index(index, type))

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self):
        return self._index

    def __setattr__(self, name, value):
        raise AttributeError("device is immutable")

    def __eq__(self, other):
        if not isinstance(other, device):
            return NotImplemented
        return (self._type, self._index) == (other._type, other._index)

    def __hash__(self):
        return hash((self._type, self._index))

    def __str__(self):
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self):
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type={self._type!r}{index})"

    def __reduce__(self):
        return device, (self._type, self._index)


def _check_index(index, given):
    if index is None:
        return None
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        raise TypeError(f"device({given!r}): expected the index to be an int, got {index!r}")
    if index != 0:
        raise ValueError(f"device({given!r}): the CPU is device 0 (there is one), got index "
                         f"{index}")
    return int(index)


CPU = device("cpu")


def device_argument(value, where: str) -> device:
    """A device from a device, a string or an int (PyTorch's ordinal of an accelerator)."""
    if isinstance(value, device):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raise cpu_only(f"{where}({value!r})")  # to(0) means CUDA device 0 in PyTorch
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a device ('cpu' or minidl.device), got "
                        f"{value.__class__.__name__}")
    try:
        return device(value)
    except DeviceUnavailableError:
        raise cpu_only(f"{where}({value!r})") from None
