"""use_kernels switches the whole framework; MINIDL_KERNELS sets the start. (Where the kernel
cache goes, read-only and damaged caches: tests/test_kernel_cache.py.)"""
import os
import subprocess
import sys

import numpy as np
import pytest

import minidl
from minidl import nn


def test_use_kernels_as_function_and_context_manager():
    assert minidl.current_kernels() == "numba"
    with minidl.use_kernels("numpy"):
        assert minidl.current_kernels() == "numpy"
    assert minidl.current_kernels() == "numba"
    minidl.use_kernels("numpy")
    try:
        assert minidl.current_kernels() == "numpy"
    finally:
        minidl.use_kernels("numba")
    with pytest.raises(ValueError, match=r"expected one of \('numpy', 'numba'\), got 'cuda'"):
        minidl.use_kernels("cuda")


def test_every_kernel_has_both_implementations():
    for name, implementations in minidl.kernels.REGISTRY.items():
        assert set(implementations) == {"numpy", "numba"}, name
        reference, fast = implementations["numpy"], implementations["numba"]
        assert reference.__name__ == f"{name}_reference" and fast.__name__ == f"{name}_numba"


def test_a_training_step_gives_the_same_result_with_both_kernel_sets(rng):
    x = minidl.tensor(rng.standard_normal((16, 8)).astype(np.float32))
    target = rng.integers(0, 3, size=16)
    results = {}
    for name in ("numpy", "numba"):
        minidl.manual_seed(3)
        model = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
        optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with minidl.use_kernels(name):
            for _ in range(3):
                optimizer.zero_grad()
                nn.CrossEntropyLoss()(model(x), target).backward()
                optimizer.step()
        results[name] = model.state_dict()
    for key, value in results["numpy"].items():
        np.testing.assert_allclose(results["numba"][key].data, value.data, rtol=1e-5, atol=1e-6)


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_environment_variable_selects_the_kernel_set():
    result = run_python("import minidl; print(minidl.current_kernels())", MINIDL_KERNELS="numpy")
    assert result.stdout.strip() == "numpy", result.stderr
    result = run_python("import minidl", MINIDL_KERNELS="gpu")
    assert "MINIDL_KERNELS: expected one of ('numpy', 'numba'), got 'gpu'" in result.stderr
