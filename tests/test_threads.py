"""Thread policy: environment limits, set_num_threads, show_config."""
import io
import os
import subprocess
import sys

import numba
import pytest

import minidl
from minidl import threads


def test_default_respects_slurm_omp_and_affinity():
    cpus = threads.available_cpus()
    assert threads.default_num_threads({}) == min(cpus, numba.config.NUMBA_NUM_THREADS)
    assert threads.default_num_threads({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert threads.default_num_threads({"OMP_NUM_THREADS": "1,1"}) == 1
    assert threads.default_num_threads({"OMP_NUM_THREADS": "junk"}) == min(
        cpus, numba.config.NUMBA_NUM_THREADS)
    assert threads.default_num_threads({"OMP_NUM_THREADS": "9999"}) <= cpus


def test_environment_applies_at_import():
    result = subprocess.run([sys.executable, "-c", "import minidl; print(minidl.get_num_threads())"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "SLURM_CPUS_PER_TASK": "1"})
    assert result.stdout.strip() == "1", result.stderr


def test_set_num_threads_validates_and_applies():
    before = minidl.get_num_threads()
    try:
        minidl.set_num_threads(1)
        assert minidl.get_num_threads() == 1
    finally:
        minidl.set_num_threads(before)
    with pytest.raises(ValueError, match=r"expected 1 <= n <= \d+"):
        minidl.set_num_threads(0)
    with pytest.raises(ValueError, match="got 100000"):
        minidl.set_num_threads(100000)
    with pytest.raises(TypeError, match="expected an int"):
        minidl.set_num_threads(1.5)


def test_show_config_names_versions_threads_and_kernels():
    stream = io.StringIO()
    minidl.show_config(file=stream)
    text = stream.getvalue()
    for expected in ("minidl 0.1.0", f"numba {numba.__version__}", "kernel set: numba",
                     "threads:", "threading layer:", "kernel cache:"):
        assert expected in text
