"""The rules every kernel follows, checked over the source (as stumpy does in CI): Numba
options come from kernels/_config.py only (its `jit`, `jit_in_order` and `jit_parallel`), never
the blanket fastmath flag; every op is registered as a (reference, numba) pair of the same
name."""
import pathlib
import re

KERNELS = pathlib.Path(__file__).resolve().parents[1] / "kernels"
SOURCES = sorted(p for p in KERNELS.glob("*.py") if p.name != "_config.py")


def test_there_are_kernel_files():
    assert len(SOURCES) >= 8


def test_no_numba_options_outside_config():
    for path in SOURCES:
        text = path.read_text()
        assert not re.search(r"fastmath\s*=", text), path.name
        assert not re.search(r"numba\.n?jit\b", text), path.name
        assert not re.search(r"from numba import [^\n]*\bn?jit\b", text), path.name
        assert "from ._config import" in text or path.name == "__init__.py", path.name


def test_every_kernel_file_registers_reference_and_numba_pairs():
    for path in SOURCES:
        text = path.read_text()
        if path.name == "__init__.py":
            continue
        assert "KERNELS = {" in text, path.name
        for name in re.findall(r'"(\w+)": \((\w+)_reference, (\w+)_numba\)', text):
            assert name[0] == name[1] == name[2], (path.name, name)
