"""A kernel gives the same bits in the process that compiles it and in a later process that
loads it from Numba's on-disk cache.

It did not always: with 'reassoc' on BatchNorm's per-element arithmetic, LLVM regrouped it
differently in the two cases, and `minidl train` reached 97.43% on a machine's first run and
97.52% on every run after (see FASTMATH_IN_ORDER in kernels/_config.py). Here a training script
runs twice against an empty cache directory: the first run compiles every kernel it uses
(about a minute on 2 cores), the second loads them all; every digest must agree.
"""
import os
import pathlib
import subprocess
import sys

import pytest


SCRIPT = pathlib.Path(__file__).with_name("cache_determinism_steps.py")


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), MINIDL_KERNELS="numba")
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="nothing is compiled or cached with the JIT disabled")
def test_compiled_and_cached_kernels_give_the_same_bits(tmp_path):
    compiled = _run(tmp_path)
    assert any(tmp_path.rglob("*.nbi")), "the first run wrote no kernel cache"
    cached = _run(tmp_path)
    assert len(compiled) > 100
    differing = [f"{a}  |  {b}" for a, b in zip(compiled, cached) if a != b]
    assert not differing, "compiled vs cached:\n" + "\n".join(differing[:20])
    assert len(compiled) == len(cached)
