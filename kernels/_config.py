"""The one place that sets Numba decorator options, the cache directory and the thread policy.

Every kernel in this package is decorated with `jit` or `jit_parallel` from here; no other
module passes options to Numba (see ../shared/KERNELS.md for the measurements behind them).
"""
from __future__ import annotations

import ctypes
import os
import tempfile
import types

# Where site-packages is read-only, `cache=True` needs a writable directory. Numba reads
# NUMBA_CACHE_DIR when it is imported, so this must run before `import numba`.
_HERE = os.path.dirname(os.path.abspath(__file__))


def _writable_cache_dir() -> str | None:
    """Return a cache directory for Numba when the package directory itself is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(_HERE, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for candidate in (os.path.join(base, "minidl", "numba"),
                      os.path.join(tempfile.gettempdir(), f"minidl-numba-{os.getuid()}")):
        try:
            os.makedirs(candidate, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return None


_cache_dir = _writable_cache_dir()
if _cache_dir is not None:
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir

import numba  # noqa: E402  (must follow the cache-directory setup above)

if _cache_dir is not None:
    # numba may have been imported before minidl; its config then needs the value directly.
    numba.config.CACHE_DIR = _cache_dir

# Numba's blanket fastmath flag would include 'nnan' and 'ninf', which let LLVM assume NaN
# never occurs: np.isnan compiles to False and NaN inputs can turn into finite numbers. This
# subset keeps NaN/Inf semantics and still lets reductions vectorise ('reassoc').
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})

# 'reassoc' is what a sum needs to vectorise, but it also lets LLVM regroup any expression,
# and LLVM did so differently in the process that compiled a kernel and in later processes that
# loaded the same kernel from the on-disk cache: BatchNorm's grad_input came out different in
# 12% of its elements (up to 47 ulp, from cancellation) on a first run and on every run after,
# so `minidl train` reached 97.43% on its first run and 97.52% afterwards. (We did not pin down
# the LLVM mechanism; tests/test_cache_determinism.py checks the result.) Per-element
# arithmetic with a written order is therefore compiled with FASTMATH_IN_ORDER, by
# `jit_in_order`: it rounds as written, every time. Its loops still vectorise: only sums and
# other reductions across iterations need 'reassoc'.
FASTMATH_IN_ORDER = FASTMATH - {"reassoc"}

# error_model='numpy': division by zero gives inf/nan like NumPy instead of raising, and the
# check it removes is what blocks vectorisation under the default 'python' model.
_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH))
_OPTIONS_IN_ORDER = dict(_OPTIONS, fastmath=set(FASTMATH_IN_ORDER))

# Below this many elements a serial kernel beats a parallel one on a small machine: waking
# the thread pool costs more than the work (KERNELS.md: about 2-5e4 elements on 2 cores).
PARALLEL_MIN_ELEMENTS = 32768


def jit(function):
    """Compile lazily (at first call) as a serial kernel with minidl's options."""
    return numba.njit(**_OPTIONS)(function)


def jit_in_order(function):
    """Like `jit`, without 'reassoc': for per-element and per-channel arithmetic whose rounding
    must not depend on how LLVM chose to regroup it (see FASTMATH_IN_ORDER)."""
    return numba.njit(**_OPTIONS_IN_ORDER)(function)


def jit_parallel(function):
    """Compile lazily as a parallel kernel (`numba.prange` loops run on Numba's thread pool).

    The function is compiled under its own name with a `__parallel` suffix. Numba's on-disk
    cache is keyed by module and qualified name, not by `parallel=True`, so a loop written once
    and passed to both `jit` and `jit_parallel` would otherwise load whichever variant was
    cached first for both.
    """
    renamed = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                 function.__defaults__, function.__closure__)
    renamed.__qualname__ = function.__qualname__ + "__parallel"
    renamed.__doc__, renamed.__module__ = function.__doc__, function.__module__
    return numba.njit(parallel=True, **_OPTIONS)(renamed)


def _limit_kernel_blas_threads() -> None:
    """Keep one thread pool: the BLAS that Numba's np.dot calls runs single-threaded.

    np.dot inside a kernel goes to SciPy's OpenBLAS. If that BLAS also starts its own threads,
    they fight with Numba's pool (KERNELS.md: 0.33 ms -> 4-8 ms). Kernels split GEMMs across
    Numba threads themselves, so SciPy's BLAS gets one thread. NumPy's own BLAS (used by the
    NumPy reference path) is left alone.
    """
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's OpenBLAS)
    except ImportError:
        return
    for path in _loaded_libraries():
        if "scipy_openblas" not in os.path.basename(path) or "64_" in os.path.basename(path):
            continue
        try:
            library = ctypes.CDLL(path)
            library.scipy_openblas_set_num_threads(ctypes.c_int(1))
        except (OSError, AttributeError):
            continue


def _loaded_libraries() -> list[str]:
    """Shared libraries mapped into this process (Linux); empty elsewhere."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line})
    except OSError:
        return []


_limit_kernel_blas_threads()
