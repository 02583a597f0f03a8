"""The one place that sets Numba decorator options, the kernel cache and the thread policy.

Every kernel in this package is decorated with `jit`, `jit_in_order` or `jit_parallel` from
here; no other module passes options to Numba (see ../shared/KERNELS.md for the measurements
behind them). Three mechanisms live here because they wrap every kernel:

- the on-disk kernel cache (`KERNEL_CACHE`): a directory chosen at import by trying to write
  into it, used read-only when it cannot be written, off when nothing can be; a damaged cache
  file is recompiled and replaced instead of crashing every later run;
- fork safety: in a child forked after GNU OpenMP's thread pool started, parallel kernels run
  as serial kernels compiled from the same source (the pool does not survive fork);
- one BLAS thread inside kernels, so that BLAS and Numba do not fight over the cores.
"""
from __future__ import annotations

import ctypes
import logging
import os
import stat
import tempfile
import types
from dataclasses import dataclass

import numba
from numba.core import caching
from numba.core.dispatcher import Dispatcher
from numba.core.registry import CPUDispatcher

_HERE = os.path.dirname(os.path.abspath(__file__))
_log = logging.getLogger("minidl")  # unconfigured, a warning is one line on stderr

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
# check it removes is what blocks vectorisation under the default 'python' model. Every kernel
# is cached on disk, by `_cached` below rather than Numba's `cache=True` (see KERNEL_CACHE).
_OPTIONS = dict(nogil=True, error_model="numpy", fastmath=set(FASTMATH))
_OPTIONS_IN_ORDER = dict(_OPTIONS, fastmath=set(FASTMATH_IN_ORDER))

# Below this many elements a serial kernel beats a parallel one on a small machine: waking
# the thread pool costs more than the work (KERNELS.md: about 2-5e4 elements on 2 cores).
PARALLEL_MIN_ELEMENTS = 32768


# --- Where compiled kernels are cached ----------------------------------------------------------

@dataclass(frozen=True)
class CacheSetting:
    """Where Numba's on-disk cache of minidl's kernels is, and whether it can be written.

    directory: the cache's root (kernels go into a subdirectory named after the sources, as
        with NUMBA_CACHE_DIR), or None for `__pycache__` beside the kernel sources.
    mode: 'writable' (kernels load from it, new ones are saved), 'read-only' (kernels load
        from it; the ones it lacks compile in memory in every run) or 'off' (no usable
        directory: every kernel compiles in memory on its first call in every run).
    """
    directory: str | None
    mode: str

    def describe(self) -> str:
        where = self.directory or f"beside the kernel sources ({_HERE}/__pycache__)"
        if self.mode == "read-only":
            return f"{where} (read-only: cached kernels load, missing ones compile in memory)"
        if self.mode == "off" and numba.config.DISABLE_JIT:
            return "off (NUMBA_DISABLE_JIT=1: kernels run as Python)"
        if self.mode == "off":
            return "off (no writable directory: kernels compile in memory in every run)"
        return f"{where} (writable)"


def _can_write_into(directory: str) -> bool:
    """Whether a file can be created in `directory` (made if missing). Tried, not guessed from
    permission bits: os.access says yes to root everywhere, and knows nothing of read-only
    mounts."""
    try:
        os.makedirs(directory, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def _can_read(directory: str) -> bool:
    return os.path.isdir(directory) and os.access(directory, os.R_OK | os.X_OK)


def _holds_compiled_kernels(directory: str) -> bool:
    """Whether `directory` holds any of Numba's cache index files (*.nbi)."""
    try:
        return _can_read(directory) and any(name.endswith(".nbi")
                                            for name in os.listdir(directory))
    except OSError:
        return False


def _is_private_directory(directory: str) -> bool:
    """Whether `directory` is (or was just made) this user's alone: owned by them and writable
    by nobody else. Cache files are pickles that Numba loads, so a per-user cache in a shared
    place (the temporary directory) that another user made or can write would let them plant
    code this user runs."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        status = os.stat(directory)
    except OSError:
        return False
    if not hasattr(os, "getuid"):  # Windows: no owners or mode bits to compare
        return True
    return status.st_uid == os.getuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _fallback_directories(environ) -> list[str]:
    """Per-user places for the cache when neither NUMBA_CACHE_DIR nor the package will do."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(base, "minidl", "numba"),
            os.path.join(tempfile.gettempdir(), f"minidl-numba-{os.getuid()}")]


def choose_kernel_cache(environ=os.environ) -> CacheSetting:
    """The cache minidl's kernels use in this process, decided once at import.

    1. NUMBA_CACHE_DIR, if set: writable if files can be created in it; if it exists but cannot
       be written (a cluster's pre-filled shared cache), read-only, used as it is.
    2. Otherwise `__pycache__` beside the kernel sources, if writable (Numba's default); if it
       cannot be written but holds compiled kernels (an installation its administrator ran
       once, e.g. a cluster's shared site-packages), read-only, used as it is.
    3. Otherwise (or if NUMBA_CACHE_DIR can be neither written nor read) a per-user directory.
    4. If nothing can be written: off, and a one-line warning says so.
    """
    if numba.config.DISABLE_JIT:
        return CacheSetting(None, "off")  # nothing is compiled, so nothing to cache
    requested = environ.get("NUMBA_CACHE_DIR") or numba.config.CACHE_DIR
    if requested:
        if _can_write_into(requested):
            return CacheSetting(requested, "writable")
        if _can_read(requested):
            return CacheSetting(requested, "read-only")
    else:
        beside_sources = os.path.join(_HERE, "__pycache__")
        if _can_write_into(beside_sources):
            return CacheSetting(None, "writable")
        if _holds_compiled_kernels(beside_sources):
            return CacheSetting(None, "read-only")
    tried = [requested] if requested else [os.path.join(_HERE, "__pycache__")]
    for candidate in _fallback_directories(environ):
        if _is_private_directory(candidate) and _can_write_into(candidate):
            if requested:
                _log.warning("minidl: NUMBA_CACHE_DIR=%s can be neither created nor read; "
                             "caching kernels in %s instead", requested, candidate)
            return CacheSetting(candidate, "writable")
        tried.append(candidate)
    _log.warning("minidl: no writable directory for the kernel cache (tried %s); kernels "
                 "compile in memory in every run", ", ".join(tried))
    return CacheSetting(None, "off")


KERNEL_CACHE = choose_kernel_cache()

_noted_damage: set[str] = set()


def _note_damaged(path: str, error: Exception) -> None:
    """One line per damaged file and process: what was wrong and what happens instead."""
    if path in _noted_damage:
        return
    _noted_damage.add(path)
    fate = ("the entry is replaced" if KERNEL_CACHE.mode == "writable"
            else "the read-only cache is left as it is")
    _log.warning("minidl: cannot load kernel cache file %s (%s: %s): recompiling the kernel; "
                 "%s", path, type(error).__name__, error, fate)


class _KernelCacheLocator(caching.InTreeCacheLocator):
    """Numba's source-file locator, pointed at KERNEL_CACHE and usable read-only (Numba's own
    locators refuse a directory they cannot write, and `import` then fails)."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)  # __pycache__ beside the source
        if KERNEL_CACHE.directory is not None:  # the NUMBA_CACHE_DIR layout
            self._cache_path = os.path.join(KERNEL_CACHE.directory,
                                            self.get_suitable_cache_subpath(py_file))

    def ensure_cache_path(self):
        if KERNEL_CACHE.mode == "writable":
            super().ensure_cache_path()

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _KernelCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [_KernelCacheLocator]


class _RecoveringCacheFile(caching.IndexDataCacheFile):
    """Numba's index (.nbi) and data (.nbc) files, read so that a damaged one (truncated, bytes
    overwritten) counts as a cache miss: the kernel compiles and, in a writable cache, Numba's
    save replaces the entry. (Numba itself raises from pickle, in every run until the file is
    deleted by hand.)"""

    def _load_index(self):
        try:
            overloads = super()._load_index()
            if not isinstance(overloads, dict):
                raise TypeError(f"index holds a {type(overloads).__name__}, not a dict")
            return overloads
        except Exception as error:  # anything pickle raises on bad bytes; an unreadable file
            _note_damaged(self._index_path, error)
            return {}  # a save then writes a new index

    def _load_data(self, name):
        try:
            return super()._load_data(name)
        except OSError:
            raise  # a missing data file: Numba's own cache miss
        except Exception as error:
            _note_damaged(self._data_path(name), error)
            return None  # a miss; the save overwrites this data file


class _KernelCache(caching.FunctionCache):
    """Numba's per-function cache with KERNEL_CACHE's location and mode, and recovery from
    damaged files (see _RecoveringCacheFile)."""
    _impl_class = _KernelCacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _RecoveringCacheFile(self._cache_path, self._impl.filename_base,
                                                self._impl.locator.get_source_stamp())

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as error:  # entry unpickled but does not rebuild into a kernel
            _note_damaged(self._cache_file._index_path, error)
            return None

    def save_overload(self, sig, data):
        if KERNEL_CACHE.mode == "writable":
            super().save_overload(sig, data)


def _cached(dispatcher):
    """Give a kernel minidl's on-disk cache (what `cache=True` does with Numba's own)."""
    if isinstance(dispatcher, Dispatcher) and KERNEL_CACHE.mode != "off":
        dispatcher._cache = _KernelCache(dispatcher.py_func)  # Dispatcher.enable_caching's slot
    return dispatcher  # NUMBA_DISABLE_JIT=1: the plain Python function


# --- The decorators -------------------------------------------------------------------------------

def jit(function):
    """Compile lazily (at first call) as a serial kernel with minidl's options."""
    return _cached(numba.njit(**_OPTIONS)(function))


def jit_in_order(function):
    """Like `jit`, without 'reassoc': for per-element and per-channel arithmetic whose rounding
    must not depend on how LLVM chose to regroup it (see FASTMATH_IN_ORDER)."""
    return _cached(numba.njit(**_OPTIONS_IN_ORDER)(function))


_PARALLEL_KERNELS: list[Dispatcher] = []  # every jit_parallel kernel (see Fork safety below)


def jit_parallel(function):
    """Compile lazily as a parallel kernel (`numba.prange` loops run on Numba's thread pool).

    The function is compiled under its own name with a `__parallel` suffix. Numba's on-disk
    cache is keyed by module and qualified name, not by `parallel=True`, so a loop written once
    and passed to both `jit` and `jit_parallel` would otherwise load whichever variant was
    cached first for both. Its serial twin, `__serial_after_fork`, compiles only in a forked
    child that needs it (see `_run_parallel_kernels_serially`).
    """
    parallel = _cached(numba.njit(parallel=True, **_OPTIONS)(_renamed(function, "__parallel")))
    if isinstance(parallel, Dispatcher):
        parallel._minidl_serial_twin = _cached(
            numba.njit(**_OPTIONS)(_renamed(function, "__serial_after_fork")))
        _PARALLEL_KERNELS.append(parallel)
    return parallel


def _renamed(function, suffix: str):
    """A copy of `function` whose qualified name (its cache key) ends in `suffix`."""
    renamed = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                 function.__defaults__, function.__closure__)
    renamed.__qualname__ = function.__qualname__ + suffix
    renamed.__doc__, renamed.__module__ = function.__doc__, function.__module__
    return renamed


# --- Fork safety ----------------------------------------------------------------------------------

# GNU OpenMP's thread pool does not survive fork(): a parallel region in the child would wait
# forever for threads that exist only in the parent, so Numba's 'omp' layer kills a forked
# child with SIGTERM when it enters one, and a fork-context multiprocessing pool then waits
# forever for the dead worker. numba.set_num_threads(1) in the child does not help (Numba's
# check comes first; tried), and a process cannot switch threading layers once one started.
# So in such a child every parallel kernel becomes its serial twin: the same loops with prange
# run as range, each iteration computing what it computed on a thread of the parent (kernels
# own their outputs per iteration, so the results are the parent's; tests/test_fork_safety.py).
# The Python-level dispatch this adds exists only in the forked child; the parent's kernels
# are untouched. Grandchildren go through the same handler.
FORKED_SERIAL = False  # True in a forked child whose parallel kernels run serially


def _forked_openmp_pool_is_unusable() -> bool:
    try:
        layer = numba.threading_layer()
    except ValueError:  # not started in the parent: the child starts its own pool
        return False
    if layer != "omp":  # 'tbb' and 'workqueue' are fork-safe (Numba's threading-layer docs)
        return False
    from numba.np.ufunc import omppool
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"  # Intel's OpenMP is fork-safe


class _SerialAfterFork(CPUDispatcher):
    """A parallel kernel in a forked child: calls go to its serial twin."""

    def __call__(self, *args, **kwargs):
        return self._minidl_serial_twin(*args, **kwargs)


def _run_parallel_kernels_serially() -> None:
    global FORKED_SERIAL
    if not _PARALLEL_KERNELS or not _forked_openmp_pool_is_unusable():  # none: JIT disabled
        return
    for kernel in _PARALLEL_KERNELS:
        kernel.__class__ = _SerialAfterFork
    FORKED_SERIAL = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_run_parallel_kernels_serially)


# --- One BLAS thread inside kernels ---------------------------------------------------------------

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
