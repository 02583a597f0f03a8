"""End-to-end training steps, and the peak memory of a training run.

One benchmark call is one training step on a fixed batch: zero_grad, forward, cross-entropy,
backward, SGD step (see _models.py for the cases (a) MLP with and without BatchNorm, (b) small
CNN, (c) ResNet-style basic blocks). Columns: minidl on its NumPy reference kernels
(use_kernels("numpy")), minidl on its Numba kernels, PyTorch with the same architecture and
the same initial weights. Before timing, each column takes 3 steps from those weights and its
losses must agree with the reference's.

Peak memory: each case trains for MEMORY_STEPS steps in a fresh process per framework
(`python -m benchmarks._models train ...`); the process's VmHWM / ru_maxrss is recorded in
extra_info (group "memory <case>"), with its RSS after the imports for comparison.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

from . import _env, _models
from ._harness import COLUMNS, case_id, machine_load, measure, optional_torch, require_torch

CHECK_STEPS = 3
MEMORY_STEPS = 20
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params():
    return [pytest.param(case, column, id=f"{case_id(case)}-{column}")
            for case in _models.CASES for column in COLUMNS]


@functools.lru_cache(maxsize=None)
def _reference_losses(case):
    step = _models.make_step("numpy", case, _models.initial_state(case))
    return [step() for _ in range(CHECK_STEPS)]


@pytest.mark.parametrize("case, column", _params())
def test_training_step(benchmark, case, column):
    if column == "torch":
        require_torch()
    step = _models.make_step(column, case, _models.initial_state(case))
    losses = [step() for _ in range(CHECK_STEPS)]
    expected = _reference_losses(case)
    for index, (loss, reference) in enumerate(zip(losses, expected)):
        assert abs(loss - reference) <= 1e-4 * abs(reference), (
            f"{column} {case}: loss {loss} at step {index + 1}, reference {reference}")
    interleave = None
    if column == "minidl":  # the targets' groups
        interleave = {"torch": (_models.make_step("torch", case, _models.initial_state(case))
                                if optional_torch() else None)}
    measure(benchmark, step, family="end-to-end",
            group=f"end-to-end step {_models.CASE_TITLES[case]}", column=column,
            extra={"case": case, "batch": _models.BATCH[case], "check_losses": losses},
            interleave=interleave)


def run_program(args, env=None, timeout=600) -> dict:
    """Run `python -m benchmarks._models ARGS` from the repository root; its JSON output."""
    completed = subprocess.run([sys.executable, "-m", "benchmarks._models", *args], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmarks._models {' '.join(args)} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case, framework",
                         [pytest.param(case, framework, id=f"{case}-{framework}")
                          for case in _models.CASES for framework in ("minidl", "torch")])
def test_peak_memory(benchmark, case, framework):
    if framework == "torch" and optional_torch() is None:
        pytest.skip("PyTorch is not installed: the torch column is skipped")
    threads = _env.bench_threads()
    # one run before the measured one: the kernel cache is warm, as in a user's second run
    run_program(["train", framework, case, "2", str(threads)])
    results = []

    def train():
        results.append(run_program(["train", framework, case, str(MEMORY_STEPS), str(threads)]))
    benchmark.group = f"memory {_models.CASE_TITLES[case]}"
    with machine_load(benchmark):
        benchmark.pedantic(train, rounds=1, iterations=1)
    result = results[-1]
    peak_kb = result["end"].get("VmHWM_kb", result["end"]["ru_maxrss_kb"])
    benchmark.extra_info.update({
        "family": "memory", "column": framework, "case": case, "steps": MEMORY_STEPS,
        "threads": threads, "peak_rss_mb": peak_kb / 1024,
        "rss_after_import_mb": result["rss_after_import"].get("VmRSS_kb", 0) / 1024,
        "rss_after_build_mb": result["rss_after_build"].get("VmRSS_kb", 0) / 1024,
        "ru_maxrss_mb": result["end"]["ru_maxrss_kb"] / 1024,
        "train_peak_increase_mb": (peak_kb - result["rss_after_import"].get("VmRSS_kb", 0))
        / 1024,
        "import_s": result["import_s"], "first_step_s": result["first_step_s"],
        "step_s": result["later_steps_s"] / max(1, MEMORY_STEPS - 1),
    })
