"""The environment every benchmark column runs in: allocator, threads, and what to record.

Imported by benchmarks/conftest.py before NumPy allocates anything, and by the subprocess
programs (start-up, peak memory, compile time) so that they run under the same settings.
This module imports nothing heavy at the top: `configure_allocator()` must be able to run
before NumPy is imported.
"""
from __future__ import annotations

import ctypes
import os
import platform
import runpy
import sys
import time

# minidl keeps freed memory in the process when it is imported (minidl/_allocator.py: no
# page faults for each step's fresh arrays). Every column must run under that same allocator,
# including the PyTorch-only subprocess programs, which must not import minidl (it would count
# in their start-up time and memory): the module's file is run on its own, outside the package.
_ALLOCATOR_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "minidl", "_allocator.py")

_ALLOCATOR: dict = {}


def configure_allocator() -> dict:
    """Apply minidl's allocator setting, and switch NumPy's huge pages off, for every column
    alike (NumPy, minidl, PyTorch: PyTorch's CPU allocator is glibc malloc too).

    NumPy's madvise(MADV_HUGEPAGE) on large arrays adds huge-page compaction stalls that make
    rounds erratic on these machines; it is switched off for all columns. Returns a
    description for `extra_info`. Idempotent.
    """
    if _ALLOCATOR:
        return dict(_ALLOCATOR)
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    info = {"NUMPY_MADVISE_HUGEPAGE": os.environ["NUMPY_MADVISE_HUGEPAGE"]}
    info["malloc"] = runpy.run_path(_ALLOCATOR_SOURCE)["keep_freed_memory"]()
    if "numpy" in sys.modules:  # imported before us (by a plugin): switch madvise off at run time
        try:
            from numpy._core.multiarray import _set_madvise_hugepage
            _set_madvise_hugepage(False)
            info["NUMPY_MADVISE_HUGEPAGE"] = "0 (set at run time)"
        except ImportError:
            info["NUMPY_MADVISE_HUGEPAGE"] = "numpy imported first; not changed"
    _ALLOCATOR.update(info)
    return dict(info)


def available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def bench_threads() -> int:
    """Threads for every column: MINIDL_BENCH_THREADS, else the CPUs this process may use."""
    value = os.environ.get("MINIDL_BENCH_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cpus()


def set_threads(n: int) -> None:
    """n threads for minidl's kernels, NumPy's BLAS (minidl.set_num_threads does both) and
    PyTorch (intra-op) when it is installed."""
    import minidl
    minidl.set_num_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


# ----- load from other processes (the machine is shared) ----------------------------------------

_QUIET_WAIT_BUDGET = {"left": None}


def _machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / ticks, total / ticks


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def others_busy(window: float = 0.15) -> float | None:
    """Fraction of the machine's CPU time that OTHER processes used over `window` seconds."""
    before, own_before = _machine_cpu_seconds(), _own_cpu_seconds()
    if before is None:
        return None
    time.sleep(window)
    after, own_after = _machine_cpu_seconds(), _own_cpu_seconds()
    total = after[1] - before[1]
    if total <= 0:
        return None
    busy = (after[0] - before[0]) - (own_after - own_before)
    return max(0.0, min(1.0, busy / total))


def wait_for_quiet(threshold: float = 0.15, max_wait: float = 20.0) -> float | None:
    """Before a measurement: wait (up to max_wait seconds, and up to MINIDL_BENCH_QUIET_WAIT
    seconds over the whole run, default 300) until other processes use less than `threshold`
    of the CPUs. Returns the last busy fraction seen (recorded in extra_info)."""
    if _QUIET_WAIT_BUDGET["left"] is None:
        value = os.environ.get("MINIDL_BENCH_QUIET_WAIT", "300")
        _QUIET_WAIT_BUDGET["left"] = float(value) if value.replace(".", "", 1).isdigit() else 300.0
    busy = others_busy()
    start = time.perf_counter()
    while (busy is not None and busy > threshold and _QUIET_WAIT_BUDGET["left"] > 0
           and time.perf_counter() - start < max_wait):
        time.sleep(1.0)
        busy = others_busy()
    _QUIET_WAIT_BUDGET["left"] -= time.perf_counter() - start
    return busy


def cpu_pressure_total() -> float | None:
    """Seconds (since boot) during which some task waited for a CPU (/proc/pressure/cpu)."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            for line in pressure:
                if line.startswith("some"):
                    return float(line.split("total=")[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(flags & {"avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"})
    except OSError:
        pass
    return []


def _openblas_runtime() -> dict:
    """Thread counts of the OpenBLAS libraries loaded in this process (NumPy's and SciPy's)."""
    result = {}
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "openblas" in line and ".so" in line})
    except OSError:
        return result
    for path in paths:
        name = os.path.basename(path)
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                       "openblas_get_num_threads64_", "openblas_get_num_threads"):
            function = getattr(library, symbol, None)
            if function is not None:
                result[name] = {"threads": int(function())}
                break
        for symbol in ("scipy_openblas_get_config64_", "scipy_openblas_get_config",
                       "openblas_get_config64_", "openblas_get_config"):
            function = getattr(library, symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                result.setdefault(name, {})["config"] = function().decode(errors="replace")
                break
    return result


def worktree_state(repo: str | None = None) -> dict:
    """The code being measured: HEAD and a hash of each uncommitted file under kernels/ and
    minidl/ (other people may be editing the working tree while the suite runs)."""
    import hashlib
    import subprocess
    repo = repo or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "kernels", "minidl"],
                                cwd=repo, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"head": None}
    modified = {}
    for line in status.splitlines():
        path = line[3:].split(" -> ")[-1]
        full = os.path.join(repo, path)
        paths = ([os.path.join(root, name) for root, _, names in os.walk(full) for name in names]
                 if os.path.isdir(full) else [full])
        for file_path in paths:
            if not file_path.endswith(".py"):
                continue
            try:
                with open(file_path, "rb") as handle:
                    digest = hashlib.sha1(handle.read()).hexdigest()[:12]
            except OSError:
                digest = "deleted"
            modified[os.path.relpath(file_path, repo)] = digest
    return {"head": head, "uncommitted": modified}


def environment_info() -> dict:
    """Threads, threading layer, BLAS, CPU and versions, for the JSON's machine_info."""
    import numba
    import numpy as np
    import scipy

    import minidl
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    info = {
        "cpu_model": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpus_available": available_cpus(),
        "threads": bench_threads(),
        "minidl_threads": minidl.get_num_threads(),
        "numba_threading_layer": layer,
        "numba_pool_size": numba.config.NUMBA_NUM_THREADS,
        "numba_cache_dir": minidl.kernels._config.KERNEL_CACHE.describe(),
        "versions": {"python": platform.python_version(), "minidl": minidl.__version__,
                     "numpy": np.__version__, "numba": numba.__version__,
                     "scipy": scipy.__version__},
        "allocator": configure_allocator(),
        "openblas_runtime": _openblas_runtime(),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = {key: blas.get(key) for key in ("name", "version",
                                                             "openblas configuration")}
    except Exception:  # noqa: BLE001  (older NumPy: no dict mode)
        info["numpy_blas"] = "unknown"
    torch = _optional_torch()
    if torch is not None:
        info["versions"]["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        config = torch.__config__.show()
        blas_info = [part.split("=", 1)[1] for part in config.replace(",", " ").split()
                     if part.startswith("BLAS_INFO=")]
        info["torch_blas"] = blas_info[0] if blas_info else "unknown"
        info["torch_parallel"] = [line.strip() for line in
                                  torch.__config__.parallel_info().splitlines()
                                  if "backend" in line or "get_num_threads" in line]
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    else:
        info["versions"]["torch"] = None
    try:
        info["loadavg_at_start"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def _optional_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch
