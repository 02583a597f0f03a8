"""Start-up: a fresh process imports the framework, builds network (a) (784-100-100-100-10,
BatchNorm1d, sigmoid), takes one SGD step on a batch of 60, and exits.

Columns: minidl (Numba kernels, loaded from a warm kernel cache: the program runs once, untimed,
before the timed rounds), minidl on the NumPy references (MINIDL_KERNELS=numpy: no kernel is
loaded) and the same program in PyTorch. The time is the subprocess's wall time (interpreter
start-up included, the same for all), median of ROUNDS.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from . import _env
from .bench_end_to_end import REPO
from ._harness import machine_load, optional_torch

ROUNDS = 7

_PRELUDE = """\
from benchmarks import _env
_env.configure_allocator()
import numpy as np
"""

_MINIDL = _PRELUDE + """\
import minidl
from minidl import nn
minidl.set_num_threads({threads})
layers = []
for fan_in in (784, 100, 100):
    layers += [nn.Linear(fan_in, 100), nn.BatchNorm1d(100), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(100, 10))
rng = np.random.default_rng(0)
x = minidl.tensor(rng.random((60, 784), dtype=np.float32))
y = minidl.tensor(rng.integers(0, 10, size=60))
optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
optimizer.zero_grad()
loss = nn.CrossEntropyLoss()(model(x), y)
loss.backward()
optimizer.step()
print(loss.item())
"""

_TORCH = _PRELUDE + """\
import torch
from torch import nn
torch.set_num_threads({threads})
layers = []
for fan_in in (784, 100, 100):
    layers += [nn.Linear(fan_in, 100), nn.BatchNorm1d(100), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(100, 10))
rng = np.random.default_rng(0)
x = torch.from_numpy(rng.random((60, 784), dtype=np.float32))
y = torch.from_numpy(rng.integers(0, 10, size=60))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
optimizer.zero_grad()
loss = nn.CrossEntropyLoss()(model(x), y)
loss.backward()
optimizer.step()
print(loss.item())
"""

PROGRAMS = {"minidl": _MINIDL, "numpy": _MINIDL, "torch": _TORCH}


def _run(column: str, threads: int) -> None:
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    if column == "numpy":
        env["MINIDL_KERNELS"] = "numpy"
    else:
        env.pop("MINIDL_KERNELS", None)
    completed = subprocess.run([sys.executable, "-c", PROGRAMS[column].format(threads=threads)],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(f"start-up program ({column}) failed:\n{completed.stderr}")
    float(completed.stdout.strip().splitlines()[-1])  # it printed a loss


@pytest.mark.parametrize("column", ["numpy", "minidl", "torch"])
def test_startup(benchmark, column):
    if column == "torch" and optional_torch() is None:
        pytest.skip("PyTorch is not installed: the torch column is skipped")
    threads = _env.bench_threads()
    benchmark.group = "startup: import, build network (a), one step (fresh process)"
    benchmark.extra_info.update({"family": "startup", "column": column, "threads": threads})
    # the untimed warm-up round fills the kernel cache if it is cold and warms the file cache
    with machine_load(benchmark):
        benchmark.pedantic(_run, args=(column, threads), rounds=ROUNDS, warmup_rounds=1)
