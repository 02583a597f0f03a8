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


def _kernel_cache_line(tmp_path, cache_dir):
    """show_config's kernel-cache line in a fresh process, and its stderr."""
    result = subprocess.run([sys.executable, "-c", "import minidl; minidl.show_config()"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(cache_dir),
                                 "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    lines = [line for line in result.stdout.splitlines() if line.startswith("kernel cache:")]
    assert len(lines) == 1, result.stderr
    return lines[0], result.stderr


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no cache without JIT")
def test_show_config_says_where_the_kernel_cache_is_and_whether_it_is_writable(tmp_path):
    line, _ = _kernel_cache_line(tmp_path, tmp_path / "cache")
    assert line == f"kernel cache: {tmp_path / 'cache'} (writable)"
    (tmp_path / "file").write_text("")  # a path below a regular file cannot be created
    line, stderr = _kernel_cache_line(tmp_path, tmp_path / "file" / "cache")
    assert line == f"kernel cache: {tmp_path / 'xdg' / 'minidl' / 'numba'} (writable)"
    assert "can be neither created nor read" in stderr


def test_show_config_says_the_cache_is_off_without_the_jit(tmp_path):
    if os.environ.get("NUMBA_DISABLE_JIT") != "1":
        pytest.skip("runs in the NUMBA_DISABLE_JIT=1 pass of the suite")
    line, stderr = _kernel_cache_line(tmp_path, tmp_path / "cache")
    assert line == "kernel cache: off (NUMBA_DISABLE_JIT=1: kernels run as Python)"
    assert stderr == ""
