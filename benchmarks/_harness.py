"""What every benchmark does: warm up, check the result, then time it with pytest-benchmark.

Columns of a group (extra_info["column"]):
    numpy   the naive NumPy reference (kernels' `<op>_reference`, or minidl with
            use_kernels("numpy") for whole steps)
    minidl  the Numba kernel (`<op>_numba`, or minidl with its default kernels)
    torch   PyTorch CPU, when installed (skipped otherwise)
    copy    the bandwidth probe: a parallel copy of an array as large as the op's main input
            into a fresh output (memory-bound groups)
    blas    the bare BLAS matrix products the op needs (linear groups)
"""
from __future__ import annotations

import contextlib
import functools
import statistics
import time

import numba
import numpy as np
import pytest

from . import _env

# A call slower than this is timed in a few explicit rounds (pedantic mode) instead of letting
# pytest-benchmark calibrate, which would spend seconds on the slow NumPy references.
SLOW_CALL_SECONDS = 0.15
SLOW_CALL_ROUNDS = 5
VERY_SLOW_CALL_SECONDS = 0.6
VERY_SLOW_CALL_ROUNDS = 3
# Interleaved re-measurement of the groups the targets are about: about this many seconds
INTERLEAVE_SECONDS = 3.0
INTERLEAVE_MIN_ROUNDS = 7
INTERLEAVE_MAX_ROUNDS = 200

COLUMNS = ("numpy", "minidl", "torch")


@functools.lru_cache(maxsize=None)
def optional_torch():
    """The torch module, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(_env.bench_threads())
    return torch


def require_torch():
    torch = optional_torch()
    if torch is None:
        pytest.skip("PyTorch is not installed: the torch column is skipped")
    return torch


def threading_layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:
        return "not started"


def measure(benchmark, fn, *, family: str, group: str, column: str, check=None,
            extra: dict | None = None, warmup: int = 2, interleave: dict | None = None):
    """Warm `fn` up (JIT compilation, page faults, thread pools), check its result, time it.

    fn() takes no arguments. check(result) raises if the result is wrong; it runs on the first
    (untimed) call, so compilation and checking never fall inside a timed round.
    interleave: {other column: function} of the same group; after the benchmark, `fn` and
    these run in alternation (see `interleaved`) and the result goes to
    extra_info["interleaved"] (used for the groups the project's targets are about). Only
    for columns whose thread pools do not fight Numba's when alternating with it: PyTorch
    (its OpenMP threads sleep quickly), the copy probe (Numba's own pool) and single-threaded
    NumPy; not NumPy's multi-threaded OpenBLAS.
    """
    benchmark.group = group
    result = fn()
    if check is not None:
        check(result)
    once = float("inf")
    for _ in range(warmup):
        start = time.perf_counter()
        fn()
        once = min(once, time.perf_counter() - start)
    torch = optional_torch()
    benchmark.extra_info.update({
        "family": family,
        "column": column,
        "threads": numba.get_num_threads(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "threading_layer": threading_layer(),
        **(extra or {}),
    })
    with machine_load(benchmark):
        if once >= VERY_SLOW_CALL_SECONDS:
            benchmark.pedantic(fn, rounds=VERY_SLOW_CALL_ROUNDS, iterations=1)
        elif once >= SLOW_CALL_SECONDS:
            benchmark.pedantic(fn, rounds=SLOW_CALL_ROUNDS, iterations=1)
        else:
            benchmark(fn)
    if interleave:
        functions = {column: fn}
        functions.update({name: function for name, function in interleave.items()
                          if function is not None})
        benchmark.extra_info["interleaved"] = interleaved(functions, reference=column)


def interleaved(functions: dict, reference: str, budget: float = INTERLEAVE_SECONDS) -> dict:
    """Time the functions in alternation, round after round (the order rotating each round),
    so that a change of machine load hits every column alike. In each round each function
    first runs once untimed (its data back in cache, as in the sequential measurement), then
    its timed calls. Returns per-column median times and the median over the rounds of
    time(reference) / time(column), with the number of rounds."""
    names = list(functions)
    for name in names:
        functions[name]()
    once = {}
    for name in names:
        start = time.perf_counter()
        functions[name]()
        once[name] = max(time.perf_counter() - start, 1e-7)
    # calls per sample: a sample of a fast function lasts about 2 ms (timer and call noise)
    calls = {name: max(1, min(1000, int(2e-3 / once[name]))) for name in names}
    per_round = sum(once[name] * (calls[name] + 1) for name in names)
    rounds = max(INTERLEAVE_MIN_ROUNDS, min(INTERLEAVE_MAX_ROUNDS, int(budget / per_round)))
    samples = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            function, count = functions[name], calls[name]
            function()  # untimed: caches and thread pools as in a sequential measurement
            start = time.perf_counter()
            for _ in range(count):
                function()
            samples[name].append((time.perf_counter() - start) / count)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {f"{reference}/{name}": statistics.median(
        a / b for a, b in zip(samples[reference], samples[name]))
        for name in names if name != reference}
    return {"rounds": rounds, "median": medians, "ratio": ratios}


@functools.lru_cache(maxsize=None)
def _static_environment() -> dict:
    info = _env.environment_info()
    blas = info.get("numpy_blas")
    return {"cpu": info["cpu_model"], "cpus": info["cpus_available"],
            "numpy_blas": (f"{blas.get('name')} {blas.get('version')}" if isinstance(blas, dict)
                           else str(blas)),
            "torch_blas": info.get("torch_blas"), "versions": info["versions"],
            "allocator": info["allocator"]}


def compact_environment() -> dict:
    """What each benchmark records about its environment (machine_info["minidl_bench"] in the
    JSON has the full picture): CPU, BLAS, versions, allocator, threads and threading layer."""
    torch = optional_torch()
    return {**_static_environment(), "threads": numba.get_num_threads(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "threading_layer": threading_layer()}


@contextlib.contextmanager
def machine_load(benchmark):
    """Wait for other processes to quieten down (bounded), then record in extra_info how busy
    they kept the machine before the timing and the CPU pressure during it: the fraction of
    the time some task, ours or theirs, waited for a CPU (/proc/pressure/cpu)."""
    busy = _env.wait_for_quiet()
    pressure_before, start = _env.cpu_pressure_total(), time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    pressure_after = _env.cpu_pressure_total()
    benchmark.extra_info["env"] = compact_environment()
    benchmark.extra_info["others_busy_before"] = None if busy is None else round(busy, 3)
    benchmark.extra_info["cpu_pressure_during"] = (
        None if pressure_before is None or elapsed <= 0
        else round((pressure_after - pressure_before) / elapsed, 3))


# ----- checks ---------------------------------------------------------------------------------

def assert_close(actual, expected, what: str = "", rtol: float = 2e-4, atol_scale: float = 2e-5):
    """float32 agreement: |a - e| <= atol + rtol |e|, atol relative to the largest |e|."""
    actual = _as_numpy(actual)
    expected = _as_numpy(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_scale * max(scale, 1e-30),
                               err_msg=what)


def assert_all_close(actual_list, expected_list, what: str = "", **tolerances):
    assert len(actual_list) == len(expected_list), what
    for index, (actual, expected) in enumerate(zip(actual_list, expected_list)):
        assert_close(actual, expected, f"{what}[{index}]", **tolerances)


def _as_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().numpy()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a minidl Tensor
        return value.numpy()
    return np.asarray(value)


# ----- data -----------------------------------------------------------------------------------

def random_array(shape, seed: int, low=None, high=None, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def shape_text(shape) -> str:
    return "(" + ",".join(str(v) for v in shape) + ")"


def cases_by_column(cases, columns=COLUMNS):
    """pytest.param((case, column)) for every case and column, the columns of a case adjacent
    (so the columns of one group run one after another, under the same machine load)."""
    return [pytest.param(case, column, id=f"{case_id(case)}-{column}")
            for case in cases for column in columns]


def case_id(case) -> str:
    if isinstance(case, (tuple, list)):
        return "-".join(case_id(part) for part in case)
    return str(case).replace(" ", "")
