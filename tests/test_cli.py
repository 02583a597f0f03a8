"""The `minidl` command: train, evaluate, info, and one-line errors with the right exit status.

Training runs in this process through `minidl.cli.main` (one short epoch of the BN MLP);
a few calls go through `python -m minidl` to check the real entry point, its exit statuses
and that no traceback reaches stderr.
"""
import contextlib
import io
import json
import os
import subprocess
import sys

import numba
import pytest

import minidl
from minidl import cli, models

# the JIT-disabled CI run interprets Numba kernels as Python: use the NumPy references there
KERNELS = "numpy" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "numba"


def run_module(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "minidl", *args], capture_output=True,
                          text=True, timeout=timeout)


def accuracy_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert lines[-1].startswith("test accuracy: "), text
    return lines[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`minidl train --epochs 1 --model mlp-bn --output-dir DIR`, run once for the module."""
    directory = tmp_path_factory.mktemp("run") / "out"
    stdout = io.StringIO()
    kernels, threads = minidl.current_kernels(), numba.get_num_threads()
    with contextlib.redirect_stdout(stdout):
        status = cli.main(["train", "--epochs", "1", "--model", "mlp-bn", "--output-dir",
                           str(directory), "--kernels", KERNELS, "--threads", "1",
                           "--progress", "lines"])
    # the command leaves the kernel set and thread count as it found them
    assert (minidl.current_kernels(), numba.get_num_threads()) == (kernels, threads)
    return status, stdout.getvalue(), directory


def test_python_m_minidl_info():
    result = run_module("info")
    assert result.returncode == 0, result.stderr
    for expected in ("minidl 0.1.0", f"numba {numba.__version__}", "threads:",
                     "threading layer:", "kernel set:", "kernel cache:", "optional:"):
        assert expected in result.stdout


def test_train_writes_every_output(trained):
    status, output, directory = trained
    assert status == 0
    assert output.splitlines()[0].startswith("training mlp-bn on mnist (5000 images")
    assert "epoch 1/1  loss " in output and "\r" not in output
    summary = json.loads((directory / "summary.json").read_text())
    assert accuracy_line(output) == (f"test accuracy: {summary['test_accuracy']:.4f} "
                                     f"({round(summary['test_accuracy'] * 10000)} of 10000 "
                                     f"images)")
    assert summary["test_accuracy"] > 0.7 and summary["test_images"] == 10000
    assert summary["epochs"] == 1 and summary["wall_seconds"] > 0
    assert summary["settings"]["model"] == "mlp-bn"
    assert summary["settings"]["lr"] == 0.01 and summary["settings"]["threads"] == 1
    assert summary["settings"]["kernels"] == KERNELS
    assert set(summary["versions"]) == {"minidl", "python", "numpy", "numba", "scipy"}
    assert (directory / "history.csv").read_text().count("\n") == 2  # header + 1 epoch
    state = minidl.load(directory / "checkpoint.safetensors")
    assert state["config"]["model"] == "mlp-bn" and state["epoch"] == 1
    try:
        import matplotlib  # noqa: F401
        assert (directory / "curves.png").read_bytes()[:4] == b"\x89PNG"
        assert summary["files"]["curves"] == "curves.png"
    except ImportError:
        assert summary["files"]["curves"] is None
        assert "pip install minidl[plot]" in summary["notes"][0]


def test_evaluate_prints_the_same_accuracy(trained, capsys):
    _, output, directory = trained
    status = cli.main(["evaluate", str(directory / "checkpoint.safetensors"),
                       "--kernels", KERNELS])
    assert status == 0
    assert accuracy_line(capsys.readouterr().out) == accuracy_line(output)


def test_evaluate_bare_weights_needs_model(tmp_path, capsys):
    minidl.manual_seed(0)
    path = tmp_path / "weights.safetensors"
    minidl.save(models.mlp().state_dict(), path)
    assert cli.main(["evaluate", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pass --model" in error
    assert cli.main(["evaluate", str(path), "--model", "cnn"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "does not fit the cnn model" in error


@pytest.mark.parametrize("arguments, message", [
    (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--lr", "-1"], "argument --lr: expected a number > 0"),
    (["train", "--threads", "100000"], "argument --threads: expected 1 to"),
    (["train", "--optimizer", "adam", "--momentum", "0.9"], "only for --optimizer sgd"),
    (["train", "--dataset", "fashion-mnist"], "needs --data-dir"),
    (["evaluate"], "the following arguments are required: checkpoint"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_options_exit_2_with_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(arguments)
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error


def test_bad_option_through_python_m(tmp_path):
    result = run_module("train", "--scheduler", "warmup")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "invalid choice: 'warmup'" in result.stderr


def test_missing_or_garbage_checkpoint_exits_1_without_traceback(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a checkpoint at all, just some text\n" * 3)
    for path, message in ((tmp_path / "missing.safetensors", "No such file"),
                          (garbage, "minidl.load"), (tmp_path, "is a directory")):
        result = run_module("evaluate", str(path))
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("minidl evaluate: error: ") and message in result.stderr


def test_bad_data_dir_exits_1_with_one_line(tmp_path, capsys):
    assert cli.main(["train", "--data-dir", str(tmp_path), "--epochs", "1"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot read the mnist training data" in error
    assert "missing" in error


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "minidl")
    if not os.path.exists(script):
        pytest.skip("the minidl console script is not installed next to this Python")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"minidl {minidl.__version__}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_evaluate_refuses_a_fifo_without_blocking(tmp_path):
    """A FIFO with no writer: the command says what it is and exits 1 (the subprocess timeout
    turns a regression, waiting forever, into a failure)."""
    os.mkfifo(tmp_path / "checkpoint.safetensors")
    result = run_module("evaluate", str(tmp_path / "checkpoint.safetensors"), timeout=180)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "is a FIFO (named pipe), not a regular file" in result.stderr


@pytest.mark.parametrize("changes, message", [
    ({"config": [1, 2]}, "does not say which model it holds"),
    ({"config": "mlp-bn"}, "does not say which model it holds"),
    ({"config": {"model": ["mlp-bn"]}}, "expected the config's 'model' to be a string, got list"),
    ({"config": {"model": {"name": "mlp-bn"}}}, "expected the config's 'model' to be a string"),
    ({"config": {"model": "mlp-bn", "dataset": 5}}, "config's 'dataset' to be a string"),
    ({"config": {"model": "mlp-bn", "settings": {"data_dir": [1]}}},
     "config's 'data_dir' to be a string"),
    ({"config": {"model": "mlp-bn"}, "epoch": "one"}, "expected 'epoch' to be an integer"),
    ({"config": {"model": "mlp-bn"}, "model": [1]}, "expected 'model' to be a dict, got list"),
    ({"config": {"model": "mlp-bn"}, "model": {"1.weight": "w"}}, "does not fit the mlp-bn"),
    ({"config": {"model": "mlp-bn"}, "version": [1]}, "version [1] is not supported"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_evaluate_a_malformed_checkpoint_is_one_error_line(tmp_path, capsys, changes, message):
    minidl.manual_seed(0)
    state = minidl.train.training_state(models.get_model("mlp-bn"), epoch=1)
    state.update(changes)
    minidl.save(state, tmp_path / "checkpoint.safetensors")
    assert cli.main(["evaluate", str(tmp_path / "checkpoint.safetensors")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("minidl evaluate: error: "), error
    assert message in error, error
