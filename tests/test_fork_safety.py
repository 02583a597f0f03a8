"""A fork-context multiprocessing pool works after parallel kernels have run in the parent.

GNU OpenMP's thread pool (Numba's 'omp' threading layer) does not survive fork(): Numba killed
a forked child with SIGTERM when it entered a parallel kernel, and the pool then waited forever
for the lost task. Now a forked child runs every parallel kernel as its serial twin (see
kernels/_config.py), and gets the parent's results bit for bit.

The work runs in a subprocess with a timeout, so that a regression fails instead of hanging.
"""
import os
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 300  # compiling the kernels cold takes about a minute on a shared 2-core machine

# Shapes above the parallel thresholds of Linear, ReLU, BatchNorm1d and SGD, so the parent
# runs their parallel kernels (checked below) before it forks.
STEP = textwrap.dedent("""
    import io
    import multiprocessing
    import os

    import numba
    import numpy as np

    import minidl
    from minidl import nn
    import minidl.nn.functional as F
    from minidl.kernels import _config

    JIT = not numba.config.DISABLE_JIT


    def train_step(seed):
        rng = np.random.default_rng(seed)
        minidl.manual_seed(seed)
        model = nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(),
                              nn.Linear(256, 10))
        optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = minidl.tensor(rng.standard_normal((512, 784)).astype(np.float32))
        target = rng.integers(0, 10, size=512)
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        grads = [p.grad.data.copy() for p in model.parameters()]
        optimizer.step()
        weights = [p.data.copy() for p in model.parameters()]
        return [loss.data.copy(), *grads, *weights], getattr(_config, "FORKED_SERIAL", False)


    def parallel_kernels_that_ran():
        from minidl.kernels import batchnorm, linear, optimizers
        return sorted(name for module in (batchnorm, linear, optimizers)
                      for name, kernel in vars(module).items()
                      if name.endswith("_parallel") and getattr(kernel, "signatures", None))


    def assert_same(got, want, where):
        assert len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want)):
            if not np.array_equal(a, b):
                raise AssertionError(f"{where}: array {index} differs from the parent's by "
                                     f"up to {np.max(np.abs(a - b))}")
""")

POOL = STEP + textwrap.dedent("""
    if __name__ == "__main__":
        expected = {seed: train_step(seed)[0] for seed in (1, 2)}
        if JIT:
            ran = parallel_kernels_that_ran()
            assert numba.threading_layer() == "omp", numba.threading_layer()
            assert "_linear_forward_parallel" in ran and "_sgd_step_parallel" in ran, ran
            print("parent ran parallel kernels:", ", ".join(ran))
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(train_step, [1, 2])
        for seed, (arrays, forked_serial) in zip((1, 2), results):
            assert_same(arrays, expected[seed], f"forked worker, seed {seed}")
            assert forked_serial == JIT, forked_serial
        print("pool results equal the parent's")
""")

# A child that forks again: the grandchild must work too (the handler runs in every fork).
NESTED = STEP + textwrap.dedent("""
    def run_in_fork(function):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            status = 1
            try:
                function()
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


    expected = train_step(3)[0]

    def child():
        assert_same(train_step(3)[0], expected, "child")
        config = io.StringIO()
        minidl.show_config(file=config)
        assert ("parallel kernels run serially here" in config.getvalue()) == JIT, config
        assert run_in_fork(lambda: assert_same(train_step(3)[0], expected, "grandchild")) == 0

    assert run_in_fork(child) == 0
    print("child and grandchild results equal the parent's")
""")


def run_script(code, tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"), MINIDL_KERNELS="numba")
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        stderr = (timeout.stderr or b"").decode(errors="replace")
        pytest.fail(f"hung for {TIMEOUT} s (a forked child stuck or killed in a parallel "
                    f"kernel?)\nstderr: {stderr}")


def test_fork_pool_after_parallel_kernels_finishes_with_the_parents_results(tmp_path):
    result = run_script(POOL, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pool results equal the parent's" in result.stdout
    assert "Terminating" not in result.stderr


def test_fork_of_a_forked_child_still_runs_kernels(tmp_path):
    result = run_script(NESTED, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "child and grandchild results equal the parent's" in result.stdout
