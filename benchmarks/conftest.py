"""pytest configuration of the benchmark suites.

    pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/run.json

- Collects benchmarks/bench_*.py (the repository's `pytest` run has testpaths = tests and never
  comes here).
- Sets the allocator for every column before anything allocates (see _env.configure_allocator)
  and the same thread count for minidl, NumPy's BLAS and PyTorch before each benchmark
  (MINIDL_BENCH_THREADS, default: the CPUs this process may use).
- Records threads, threading layer, BLAS, CPU, versions, allocator settings and the code
  measured (HEAD and hashes of uncommitted files) in the JSON (machine_info["minidl_bench"];
  each benchmark's extra_info has its column, threads and a compact copy).
- Unless given on the command line, --benchmark-max-time defaults to 0.5 s here (1 s in
  pytest-benchmark) and --benchmark-min-time to 100 us (5 us), so that the whole suite takes
  about six minutes on 2 cores. The JSON keeps the statistics, not every round's time.
"""
from __future__ import annotations

from . import _env

ALLOCATOR = _env.configure_allocator()  # first: before NumPy or PyTorch allocate

import pytest  # noqa: E402

import minidl  # noqa: E402

from . import _harness  # noqa: E402

DEFAULT_MAX_TIME = "0.5"
# A round of a microsecond-scale function repeats it for at least this long (pytest-benchmark's
# default is 5 us): fewer, steadier rounds.
DEFAULT_MIN_TIME = "0.0001"
THREADS = _env.bench_threads()
WORKTREE_AT_START = _env.worktree_state()


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py as test modules (files named on the command line are collected by
    pytest itself, whatever their name)."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_configure(config):
    # runs before pytest-benchmark's own pytest_configure (trylast), which reads the options
    given = " ".join(str(arg) for arg in config.invocation_params.args)
    for option, default in (("max_time", DEFAULT_MAX_TIME), ("min_time", DEFAULT_MIN_TIME)):
        if f"--benchmark-{option.replace('_', '-')}" not in given and \
                hasattr(config.option, f"benchmark_{option}"):
            setattr(config.option, f"benchmark_{option}", default)


def pytest_benchmark_update_machine_info(config, machine_info):
    _env.set_threads(THREADS)
    info = _env.environment_info()
    at_end = _env.worktree_state()
    info["worktree"] = {**WORKTREE_AT_START, "changed_during_run": at_end != WORKTREE_AT_START}
    machine_info["minidl_bench"] = info


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Keep the JSON to the statistics: pytest-benchmark also writes every round's time
    (stats["data"]), which made a run's file 8 MB; the report needs only the statistics."""
    for bench in output_json["benchmarks"]:
        bench["stats"].pop("data", None)


def pytest_report_header(config):
    return (f"minidl benchmarks: {THREADS} threads (MINIDL_BENCH_THREADS), allocator {ALLOCATOR}, "
            f"torch {'installed' if _harness.optional_torch() else 'not installed'}")


@pytest.fixture(autouse=True)
def _same_threads_everywhere():
    """Every benchmark starts with THREADS threads in minidl, NumPy's BLAS and PyTorch."""
    _harness.optional_torch()  # imported (when installed) before its thread count is set
    _env.set_threads(THREADS)
    yield
    _env.set_threads(THREADS)


@pytest.fixture(autouse=True)
def _numba_kernels():
    """The benchmarks call kernels directly or pick the kernel set explicitly; minidl's
    global default is the Numba set whatever MINIDL_KERNELS says."""
    with minidl.use_kernels("numba"):
        yield
