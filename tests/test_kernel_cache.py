"""The on-disk kernel cache: where it goes, read-only and absent caches, damaged cache files.

`import minidl` used to crash ("cannot cache function ...: no locator available") when the
package directory was read-only and NUMBA_CACHE_DIR unwritable, and a damaged cache file made
every later run fail in pickle until the cache was deleted by hand.

Unwritable places are real, not mocked: a path below a regular file cannot be created by
anyone, and a read-only directory is made with chmod; tests usually run as root, who writes
through permission bits, so the subprocesses that need a read-only directory run without
CAP_DAC_OVERRIDE (dropped from the capability bounding set before exec).
"""
import ctypes
import json
import logging
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import numba
import pytest

from minidl.kernels import _config

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
needs_jit = pytest.mark.skipif(NO_JIT, reason="nothing is compiled or cached with the JIT "
                                              "disabled")

# Runs a few kernels (an MLP step: linear, ReLU, softmax cross-entropy), checks the loss against
# the NumPy references and prints, as JSON, the results, the cache setting, and how many kernels
# loaded from the cache or compiled.
PROGRAM = textwrap.dedent("""
    import json, sys
    import numpy as np
    import minidl
    from minidl import nn
    import minidl.nn.functional as F
    from minidl.kernels import _config
    from numba.core.dispatcher import Dispatcher

    rng = np.random.default_rng(0)
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    x = minidl.tensor(rng.standard_normal((8, 20)).astype(np.float32))
    target = rng.integers(0, 4, size=8)
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    with minidl.use_kernels("numpy"), minidl.no_grad():
        reference = F.cross_entropy(model(x), target)
    assert abs(float(loss.data) - float(reference.data)) < 1e-5, (loss, reference)
    cache = getattr(_config, "KERNEL_CACHE", None)  # (getattr: the test ran before it existed)
    kernels = [k for module in vars(minidl.kernels).values() if hasattr(module, "KERNELS")
               for k in vars(module).values() if isinstance(k, Dispatcher)]
    print(json.dumps({
        "loss": float(loss.data), "grad": model[0].weight.grad.data.ravel().tolist(),
        "mode": cache.mode if cache else None, "directory": cache.directory if cache else None,
        "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
        "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels),
        "kernels_file": minidl.kernels.__file__,
    }))
""")


def _drop_write_override():
    """preexec_fn: as root, lose the capabilities that write through permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 3):  # CAP_DAC_OVERRIDE, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_python(code, tmp_path, read_only_respected=False, **env):
    """Run `code` in a fresh interpreter; HOME and XDG_CACHE_HOME default to tmp_path so no
    run writes a cache outside it."""
    environment = dict(os.environ, HOME=str(tmp_path / "home"),
                       XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONDONTWRITEBYTECODE="1")
    environment.update(env)
    preexec = _drop_write_override if read_only_respected and os.geteuid() == 0 else None
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=environment, cwd=tmp_path, timeout=600, preexec_fn=preexec)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def copy_of_the_package(tmp_path):
    """minidl and its kernels copied to tmp_path/site (import it with PYTHONPATH)."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(REPOSITORY, "minidl"), site / "minidl", ignore=ignore)
    shutil.copytree(os.path.join(REPOSITORY, "kernels"), site / "minidl" / "kernels",
                    ignore=ignore)
    return site


def make_read_only(path):
    for directory, _, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(directory, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(directory, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
                 | stat.S_IROTH | stat.S_IXOTH)


def make_writable(path):
    for directory, _, files in os.walk(path):
        os.chmod(directory, stat.S_IRWXU)
        for name in files:
            os.chmod(os.path.join(directory, name), stat.S_IRUSR | stat.S_IWUSR)


def snapshot(path):
    """Every file under path with its size and modification time."""
    return {os.path.join(d, n): (os.stat(os.path.join(d, n)).st_size,
                                 os.stat(os.path.join(d, n)).st_mtime_ns)
            for d, _, files in os.walk(path) for n in files}


def assert_really_read_only(directory, tmp_path):
    """The simulation itself is checked: this process, like the runs, cannot write there."""
    probe = f"open({str(directory / 'probe')!r}, 'w')"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, cwd=tmp_path,
                            preexec_fn=_drop_write_override if os.geteuid() == 0 else None)
    assert result.returncode != 0 and b"PermissionError" in result.stderr, result.stderr


# --- Choosing the cache (in this process) ------------------------------------------------------

@pytest.fixture
def unwritable(tmp_path):
    """A path nobody, root included, can create: its parent is a regular file."""
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("")
    return blocker


@pytest.fixture
def choose(monkeypatch, unwritable):
    """choose_kernel_cache with the package directory unwritable and the JIT on."""
    monkeypatch.setattr(_config, "_HERE", str(unwritable / "kernels"))
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(numba.config, "DISABLE_JIT", False)
    return _config.choose_kernel_cache


def test_writable_numba_cache_dir_is_used(choose, tmp_path):
    assert choose({"NUMBA_CACHE_DIR": str(tmp_path / "c")}) == _config.CacheSetting(
        str(tmp_path / "c"), "writable")


def test_read_only_package_falls_back_to_the_user_cache(choose, tmp_path):
    setting = choose({"XDG_CACHE_HOME": str(tmp_path)})
    assert setting == _config.CacheSetting(str(tmp_path / "minidl" / "numba"), "writable")


def test_unusable_numba_cache_dir_falls_back_with_one_line(choose, tmp_path, unwritable,
                                                             caplog):
    with caplog.at_level(logging.WARNING, logger="minidl"):
        setting = choose({"NUMBA_CACHE_DIR": str(unwritable / "cache"),
                          "XDG_CACHE_HOME": str(tmp_path)})
    assert setting == _config.CacheSetting(str(tmp_path / "minidl" / "numba"), "writable")
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]
    assert "NUMBA_CACHE_DIR" in caplog.text and "instead" in caplog.text


def test_nothing_writable_turns_the_cache_off_with_one_line(choose, unwritable, monkeypatch,
                                                            caplog):
    monkeypatch.setattr(tempfile, "tempdir", str(unwritable / "tmp"))
    with caplog.at_level(logging.WARNING, logger="minidl"):
        setting = choose({"XDG_CACHE_HOME": str(unwritable / "xdg")})
    assert setting == _config.CacheSetting(None, "off")
    assert len(caplog.records) == 1 and "no writable directory" in caplog.text
    assert "compile in memory" in setting.describe()


# --- Read-only and missing caches (fresh processes, a read-only copy of the package) -----------

@needs_jit
def test_read_only_prefilled_cache_is_used_as_it_is(tmp_path):
    site, cache = copy_of_the_package(tmp_path), tmp_path / "shared-cache"
    filled, _ = run_python(PROGRAM, tmp_path, PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(cache))
    assert filled["kernels_file"].startswith(str(site)) and filled["misses"] > 0
    make_read_only(cache)
    make_read_only(site)
    try:
        assert_really_read_only(cache, tmp_path)
        before = snapshot(cache), snapshot(site)
        loaded, stderr = run_python(PROGRAM, tmp_path, read_only_respected=True,
                                    PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(cache))
        after = snapshot(cache), snapshot(site)
    finally:
        make_writable(tmp_path)
    assert loaded["misses"] == 0 and loaded["hits"] > 0, loaded  # every kernel from the cache
    assert (loaded["mode"], loaded["directory"]) == ("read-only", str(cache))
    assert (loaded["loss"], loaded["grad"]) == (filled["loss"], filled["grad"])
    assert after == before  # nothing written into the cache or the package
    assert stderr == ""
    assert not (tmp_path / "xdg").exists()  # no second cache made beside the shared one


@needs_jit
def test_read_only_installation_with_prefilled_kernels_uses_them(tmp_path):
    """A cluster's shared install: the administrator ran minidl once (filling __pycache__
    beside the kernels), then the site became read-only for the users."""
    site = copy_of_the_package(tmp_path)
    filled, _ = run_python(PROGRAM, tmp_path, PYTHONPATH=str(site), NUMBA_CACHE_DIR="")
    assert filled["mode"] == "writable" and filled["directory"] is None
    make_read_only(site)
    try:
        assert_really_read_only(site / "minidl" / "kernels" / "__pycache__", tmp_path)
        before = snapshot(site)
        loaded, stderr = run_python(PROGRAM, tmp_path, read_only_respected=True,
                                    PYTHONPATH=str(site), NUMBA_CACHE_DIR="")
        after = snapshot(site)
    finally:
        make_writable(site)
    assert (loaded["mode"], loaded["directory"]) == ("read-only", None)
    assert loaded["misses"] == 0 and loaded["hits"] > 0, loaded
    assert (loaded["loss"], loaded["grad"]) == (filled["loss"], filled["grad"])
    assert after == before and stderr == ""
    assert not (tmp_path / "xdg").exists()  # no per-user copy compiled beside it


def test_no_writable_directory_at_all_still_runs_with_one_line(tmp_path, unwritable):
    site = copy_of_the_package(tmp_path)
    make_read_only(site)
    code = f"import tempfile; tempfile.tempdir = {str(unwritable / 'tmp')!r}\n" + PROGRAM
    try:
        result, stderr = run_python(code, tmp_path, read_only_respected=True,
                                    PYTHONPATH=str(site),
                                    NUMBA_CACHE_DIR=str(unwritable / "cache"),
                                    HOME=str(unwritable / "home"),
                                    XDG_CACHE_HOME=str(unwritable / "xdg"))
        written = snapshot(tmp_path)
    finally:
        make_writable(site)
    assert result["mode"] == "off" and result["hits"] == 0
    assert set(written) == {str(unwritable)} | set(snapshot(site))  # nothing new anywhere
    if NO_JIT:
        assert stderr == ""  # nothing is compiled, so nothing is missing
    else:
        assert result["misses"] > 0
        assert stderr.count("\n") == 1 and "no writable directory" in stderr, stderr
        assert "compile in memory" in stderr


# --- Damaged cache files -------------------------------------------------------------------------

def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _overwrite_with_random_bytes(path):
    path.write_bytes(os.urandom(path.stat().st_size))


def _replace_with_a_pickle_of_something_else(path):
    path.write_bytes(pickle.dumps(("not", "a", "kernel")))  # loads, but does not rebuild


@needs_jit
@pytest.mark.parametrize("suffix, damage", [
    (".nbi", _truncate), (".nbi", _overwrite_with_random_bytes),
    (".nbc", _truncate), (".nbc", _overwrite_with_random_bytes),
    (".nbc", _replace_with_a_pickle_of_something_else)])
def test_damaged_cache_file_is_recompiled_and_replaced(tmp_path, suffix, damage):
    cache = tmp_path / "cache"
    environment = dict(NUMBA_CACHE_DIR=str(cache))
    compiled, _ = run_python(PROGRAM, tmp_path, **environment)
    damaged = sorted(cache.rglob(f"*linear_forward*{suffix}"))
    assert damaged, sorted(p.name for p in cache.rglob("*"))
    damage(damaged[0])

    recovered, stderr = run_python(PROGRAM, tmp_path, **environment)
    assert (recovered["loss"], recovered["grad"]) == (compiled["loss"], compiled["grad"])
    assert stderr.count("\n") == 1, stderr
    kernel_file = damaged[0].name.rsplit(".py", 1)[0]  # module.qualname-line of the kernel
    assert "cannot load kernel cache file" in stderr and kernel_file in stderr, stderr
    assert "the entry is replaced" in stderr
    assert recovered["misses"] == 1  # only the damaged kernel compiled again

    clean, stderr = run_python(PROGRAM, tmp_path, **environment)
    assert stderr == "" and clean["misses"] == 0  # the entry was replaced
    assert (clean["loss"], clean["grad"]) == (compiled["loss"], compiled["grad"])


@needs_jit
def test_damaged_file_in_a_read_only_cache_is_compiled_around_and_left_alone(tmp_path):
    cache = tmp_path / "shared-cache"
    compiled, _ = run_python(PROGRAM, tmp_path, NUMBA_CACHE_DIR=str(cache))
    _truncate(sorted(cache.rglob("*linear_forward*.nbc"))[0])
    make_read_only(cache)
    try:
        before = snapshot(cache)
        loaded, stderr = run_python(PROGRAM, tmp_path, read_only_respected=True,
                                    NUMBA_CACHE_DIR=str(cache))
        after = snapshot(cache)
    finally:
        make_writable(cache)
    assert (loaded["loss"], loaded["grad"]) == (compiled["loss"], compiled["grad"])
    assert loaded["mode"] == "read-only" and loaded["misses"] == 1
    assert stderr.count("\n") == 1 and "the read-only cache is left as it is" in stderr, stderr
    assert after == before


def test_a_fallback_cache_another_user_can_write_is_not_used(choose, tmp_path, monkeypatch):
    """The per-user fallback in the shared temporary directory: cache files are pickles, so a
    directory someone else could write (or made) must not hold them."""
    xdg = tmp_path / "xdg"
    shared = tmp_path / "tmp" / f"minidl-numba-{os.getuid()}"
    shared.mkdir(parents=True)
    shared.chmod(0o777)  # as if another user had made it for everyone
    (tmp_path / "blocked").write_text("")  # XDG under a regular file: cannot be made
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert choose({"XDG_CACHE_HOME": str(tmp_path / "blocked" / "xdg")}) == \
        _config.CacheSetting(None, "off")
    shared.chmod(0o700)
    assert choose({"XDG_CACHE_HOME": str(tmp_path / "blocked" / "xdg")}) == \
        _config.CacheSetting(str(shared), "writable")
    assert not xdg.exists()


def test_a_new_fallback_cache_is_made_private(choose, tmp_path):
    setting = choose({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert setting.directory == str(tmp_path / "xdg" / "minidl" / "numba")
    assert stat.S_IMODE(os.stat(setting.directory).st_mode) & 0o077 == 0
