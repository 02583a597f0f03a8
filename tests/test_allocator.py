"""Freed memory is kept for reuse (minidl/_allocator.py), unless the environment says not to."""
import os
import platform
import subprocess
import sys

import pytest

import minidl
from minidl import _allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# One "training step" allocates four 12 MiB arrays, writes every page and frees them; the
# program prints the page faults of the later steps (the first one faults its pages in anyway).
# Transparent huge pages are switched off for the process (prctl PR_SET_THP_DISABLE), so that
# a machine with THP "always" counts 4 KiB pages too.
STEPS_PROGRAM = """
import ctypes, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)
import numpy as np
import minidl

def step():
    arrays = [np.ones(3 << 20, np.float32) for _ in range(4)]
    del arrays

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def _faults_per_step(**environment) -> float:
    """Page faults per step of STEPS_PROGRAM, without this environment's malloc settings or
    preloaded allocator (minidl leaves those alone)."""
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("MALLOC_") and name not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    result = subprocess.run([sys.executable, "-c", STEPS_PROGRAM], capture_output=True,
                            text=True, timeout=120,
                            env={**inherited, "NUMPY_MADVISE_HUGEPAGE": "0", **environment})
    assert result.returncode == 0, result.stderr
    return float(result.stdout)


@pytest.mark.skipif(not GLIBC, reason="the setting applies to glibc only")
def test_importing_minidl_stops_steps_from_page_faulting():
    pages_per_step = 4 * (12 << 20) // os.sysconf("SC_PAGE_SIZE")
    kept = _faults_per_step(MINIDL_KEEP_FREED_MEMORY="1")
    defaults = _faults_per_step(MINIDL_KEEP_FREED_MEMORY="0")
    assert kept < 0.01 * pages_per_step, kept
    assert defaults > 0.5 * pages_per_step, defaults  # glibc unmaps and faults them in again


@pytest.fixture
def restore_state():
    before = dict(_allocator._state)
    yield
    _allocator._state.update(before)


@pytest.mark.parametrize("environ, expected", [
    ({"MINIDL_KEEP_FREED_MEMORY": "0"}, "left to the C library (MINIDL_KEEP_FREED_MEMORY=0)"),
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "left to the environment (MALLOC_MMAP_THRESHOLD_)"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
     "left to the environment (glibc.malloc.trim_threshold)"),
])
def test_the_users_choice_wins(environ, expected, restore_state):
    assert _allocator.keep_freed_memory(environ) == expected
    assert _allocator.allocator_setting() == expected


@pytest.mark.parametrize("value", ["yes", "2", "off"])
def test_a_bad_switch_is_refused_with_what_was_expected(value, restore_state):
    with pytest.raises(ValueError, match=f"expected 0 .* or 1 .*got {value!r}"):
        _allocator.keep_freed_memory({"MINIDL_KEEP_FREED_MEMORY": value})


def test_show_config_reports_the_setting(capsys):
    minidl.show_config()
    line = [line for line in capsys.readouterr().out.splitlines() if line.startswith("allocator")]
    assert line == [f"allocator: {_allocator.allocator_setting()}"]
    left_to_the_user = (os.environ.get("MINIDL_KEEP_FREED_MEMORY", "").strip() == "0"
                        or _allocator.user_choice(_allocator._startup_environment())
                        or os.environ.get("LD_PRELOAD"))
    if GLIBC and not left_to_the_user:
        assert line[0].startswith("allocator: freed memory kept: M_MMAP_THRESHOLD=33554432, "
                                  "M_TRIM_THRESHOLD=1073741824;")


@pytest.mark.parametrize("system, library, expected", [
    ("Darwin", "", "not changed (the C library is unknown, not glibc)"),
    ("Linux", "musl", "not changed (the C library is musl, not glibc)"),
])
def test_other_c_libraries_are_not_touched(system, library, expected, monkeypatch):
    monkeypatch.setattr(_allocator.platform, "system", lambda: system)
    monkeypatch.setattr(_allocator.platform, "libc_ver", lambda: (library, ""))
    monkeypatch.setattr(_allocator.ctypes, "CDLL", None)  # calling it would fail the test
    assert _allocator._apply() == expected
