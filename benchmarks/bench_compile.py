"""Compile time, as its own group: every kernel the end-to-end cases use.

A fresh process imports minidl and takes one training step and one eval-mode forward of each
end-to-end case (MLP with and without BatchNorm, small CNN, ResNet-style net):
  cold  with NUMBA_CACHE_DIR pointing to a new, empty directory: every kernel compiles;
  warm  the same program again in a new process: every kernel loads from that cache.
The benchmark time is the process's wall time; extra_info has the time of the imports and of
each case (compilation or cache loading dominates it: a step itself takes milliseconds).
"""
from __future__ import annotations

import os
import statistics

import pytest

from . import _env
from ._harness import machine_load
from .bench_end_to_end import run_program

WARM_ROUNDS = 3


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return {"path": str(tmp_path_factory.mktemp("numba-cache")), "filled": False}


def _environment(cache_dir):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache_dir["path"]
    env.pop("MINIDL_KERNELS", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _record(benchmark, column, results, cache_dir):
    """extra_info: the median over the rounds of each time in the programs' output."""
    times = {key: statistics.median(result[key] for result in results)
             for key in results[0] if key.endswith("_s")}
    benchmark.extra_info.update({
        "family": "compile", "column": column, "threads": _env.bench_threads(),
        "numba_cache_dir": cache_dir["path"], **times, "all_rounds": results,
    })


def test_compile_cold(benchmark, cache_dir):
    results = []
    threads = str(_env.bench_threads())

    def cold():
        results.append(run_program(["compile", threads], env=_environment(cache_dir),
                                   timeout=900))
    benchmark.group = "compile: kernels of the end-to-end cases"
    with machine_load(benchmark):
        benchmark.pedantic(cold, rounds=1, iterations=1)  # a 2nd round would find the cache
    cache_dir["filled"] = True
    _record(benchmark, "cold", results, cache_dir)


def test_compile_warm(benchmark, cache_dir):
    threads = str(_env.bench_threads())
    if not cache_dir["filled"]:  # run alone (-k warm): fill the cache first, untimed
        run_program(["compile", threads], env=_environment(cache_dir), timeout=900)
        cache_dir["filled"] = True
    results = []

    def warm():
        results.append(run_program(["compile", threads], env=_environment(cache_dir)))
    benchmark.group = "compile: kernels of the end-to-end cases"
    with machine_load(benchmark):
        benchmark.pedantic(warm, rounds=WARM_ROUNDS, iterations=1)
    _record(benchmark, "warm", results, cache_dir)
