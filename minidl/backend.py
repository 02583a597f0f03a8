"""Which kernel set runs: the Numba kernels (default) or their naive NumPy references.

The same program runs either way, so a full training run can be timed both ways:

    >>> minidl.use_kernels("numpy")          # switch for the rest of the program
    >>> with minidl.use_kernels("numba"):    # or only inside a block
    ...     model(x)

The environment variable MINIDL_KERNELS sets the starting choice.
"""
from __future__ import annotations

import os

from . import kernels

_ENV_VAR = "MINIDL_KERNELS"


def _validated(name) -> str:
    if name not in kernels.BACKENDS:
        raise ValueError(f"use_kernels: expected one of {kernels.BACKENDS}, got {name!r}")
    return name


def _initial_backend() -> str:
    name = os.environ.get(_ENV_VAR, "numba")
    if name not in kernels.BACKENDS:
        raise ValueError(f"environment variable {_ENV_VAR}: expected one of "
                         f"{kernels.BACKENDS}, got {name!r}")
    return name


_current = _initial_backend()


def current_kernels() -> str:
    """The name of the kernel set in use: 'numba' or 'numpy'."""
    return _current


def kernel(name: str):
    """The implementation of kernel `name` in the current kernel set."""
    return kernels.REGISTRY[name][_current]


class use_kernels:
    """Switch the kernel set now; used as a context manager, switch back on exit."""

    def __init__(self, name: str):
        global _current
        self._previous = _current
        _current = _validated(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        global _current
        _current = self._previous
        return False
