"""How many threads minidl's kernels use, and a summary of the configuration.

One pool does the work: parallel kernels run on Numba's threads, and the BLAS that kernels call
inside those threads is single-threaded (kernels/_config.py). The number of Numba threads
starts from what the machine gives this process:

1. NUMBA_NUM_THREADS, if set (Numba's own setting, read when numba is imported);
2. otherwise the smallest of: the CPUs in this process's affinity mask, OMP_NUM_THREADS and
   SLURM_CPUS_PER_TASK (a batch job may see all of a node's cores but own only a few).

`set_num_threads(n)` changes it at run time, for Numba and for NumPy's BLAS alike.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

import numba
import numpy as np
import scipy

from . import kernels
from ._allocator import allocator_setting
from .backend import current_kernels

_ENVIRONMENT_LIMITS = ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_threads(environ=os.environ) -> int:
    """The thread count the environment asks for (see the module docstring)."""
    if environ.get("NUMBA_NUM_THREADS"):
        return numba.config.NUMBA_NUM_THREADS
    limits = [available_cpus()]
    for name in _ENVIRONMENT_LIMITS:
        value = environ.get(name, "").split(",")[0].strip()  # OMP allows "4,2" (nested levels)
        if value.isdigit() and int(value) > 0:
            limits.append(int(value))
    return min(min(limits), numba.config.NUMBA_NUM_THREADS)


def get_num_threads() -> int:
    return numba.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use n threads in minidl's parallel kernels (and in NumPy's BLAS, so the two pools
    never together ask for more cores than n)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: expected an int, got {n!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"set_num_threads: expected 1 <= n <= {limit} (Numba's pool size, set "
                         f"by NUMBA_NUM_THREADS at start-up), got {n}")
    numba.set_num_threads(int(n))
    _set_numpy_blas_threads(int(n))


def _set_numpy_blas_threads(n: int) -> None:
    """Set the OpenBLAS that NumPy bundles (scipy_openblas64_) to n threads, if present."""
    for path in kernels._config._loaded_libraries():
        name = os.path.basename(path)
        if "openblas64_" not in name:
            continue
        try:
            ctypes.CDLL(path).scipy_openblas_set_num_threads64_(ctypes.c_int(n))
        except (OSError, AttributeError):
            continue


_FORKED_NOTE = " (forked from a process using it: parallel kernels run serially here)"


def show_config(file=None) -> None:
    """Print versions, threads, threading layer, kernel set, the kernel cache (where, and
    whether writable, read-only or off) and the allocator setting."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: report what Numba will choose from
        layer = f"not started yet (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"
    from . import __version__
    lines = [
        f"minidl {__version__}",
        f"python {platform.python_version()} ({sys.executable})",
        f"numpy {np.__version__}, numba {numba.__version__}, scipy {scipy.__version__}",
        f"kernel set: {current_kernels()} (MINIDL_KERNELS or minidl.use_kernels)",
        f"threads: {get_num_threads()} of {numba.config.NUMBA_NUM_THREADS} in Numba's pool; "
        f"{available_cpus()} CPUs available to this process",
        f"threading layer: {layer}{_FORKED_NOTE if kernels._config.FORKED_SERIAL else ''}",
        f"kernel cache: {kernels._config.KERNEL_CACHE.describe()}",
        f"allocator: {allocator_setting()}",
    ]
    print("\n".join(lines), file=file or sys.stdout)


def _apply_environment_default() -> None:
    numba.set_num_threads(default_num_threads())
