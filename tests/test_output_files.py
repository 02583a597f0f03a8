"""Everything minidl writes besides checkpoints (History CSVs and curves, the train command's
summary) follows the checkpoints' rules (minidl/_files.py): a regular file or a new path,
symbolic links written through, anything else refused and left untouched.

FIFOs, sockets and links live in tmp_path; no test touches a real device file. Each FIFO has
a reader open (non-blocking) while the test runs, so code that wrongly opens it for writing
writes into it instead of waiting forever, and the test fails instead of hanging.
"""
import contextlib
import io
import json
import os
import stat

import pytest

from minidl import cli
from minidl.train import History


def small_history() -> History:
    history = History()
    history.append_epoch({"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.3}, [2.5, 1.5])
    history.append_epoch({"epoch": 2, "train_loss": 1.0, "train_accuracy": 0.6}, [1.2, 0.8])
    return history


@contextlib.contextmanager
def fifo_with_a_reader(path):
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield path
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)  # still a FIFO: left untouched


def write_csv(history, path):
    history.to_csv(path)


def write_png(history, path):
    pytest.importorskip("matplotlib")
    history.plot(path, title="two epochs")


@pytest.mark.parametrize("write", [write_csv, write_png])
def test_history_files_refuse_a_fifo(tmp_path, write):
    with fifo_with_a_reader(tmp_path / "out") as fifo:
        with pytest.raises(ValueError, match="FIFO"):
            write(small_history(), fifo)


@pytest.mark.parametrize("write", [write_csv, write_png])
def test_history_files_refuse_a_directory(tmp_path, write):
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        write(small_history(), tmp_path / "out")
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("write", [write_csv, write_png])
def test_history_files_are_written_through_a_symlink(tmp_path, write):
    target = tmp_path / "real"
    target.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(target)
    write(small_history(), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old"
    # nothing but the two names: the temporary file was renamed over the target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_history_csv_content_is_unchanged_by_the_atomic_write(tmp_path):
    small_history().to_csv(tmp_path / "h.csv", steps=True)
    assert (tmp_path / "h.csv").read_text().splitlines() == [
        "step,epoch,loss", "1,1,2.5", "2,1,1.5", "3,2,1.2", "4,2,0.8"]


def test_train_command_refuses_a_summary_path_that_is_a_fifo(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with fifo_with_a_reader(out / "summary.json"):
        with pytest.raises(cli.CommandError, match="summary.json.* is a FIFO"):
            cli._write_outputs(str(out), small_history(), {"epoch": 2}, {
                "model": "mlp", "dataset": "mnist"}, io.StringIO())


def test_train_command_summary_is_written_through_a_symlink(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "kept-summary.json"
    (out / "summary.json").symlink_to(target)
    cli._write_outputs(str(out), small_history(), {"epoch": 2},
                       {"model": "mlp", "dataset": "mnist"}, io.StringIO())
    assert (out / "summary.json").is_symlink()
    assert json.loads(target.read_text())["model"] == "mlp"


def test_a_download_never_replaces_a_fifo(tmp_path):
    """minidl.data.download.fetch renames its finished file over the target: not over a FIFO
    (and, like every write, not into a device)."""
    import hashlib

    from minidl.data import download
    payload = b"digits"
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    with fifo_with_a_reader(tmp_path / "data.bin") as fifo:
        with pytest.raises(ValueError, match="FIFO"):
            download.fetch(source.as_uri(), fifo, hashlib.md5(payload).hexdigest())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "source.bin"]
