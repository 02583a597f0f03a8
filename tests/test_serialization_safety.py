"""Checkpoints, adversarially: formats told apart by their structure (a header length may look
like a pickle or a zip), `save` and `load` never going into special files (FIFOs, sockets,
directories; never a real device), and every malformed header, structure or training state a
ValueError (and one line from `minidl evaluate`)."""
import json
import os
import pickletools
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minidl
from minidl import load, nn, save, serialization
from minidl.data import ArrayDataset, DataLoader
from minidl.optim import SGD
from minidl.train import Callback, Checkpoint, fit, restore_training_state, training_state

from .test_serialization import assert_identical, read_header, realistic_checkpoint, write_raw

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
# the subprocesses below import minidl (Numba) on a shared, busy machine: generous, but finite
SUBPROCESS_TIMEOUT = 180


# ----- helpers ------------------------------------------------------------------------------
def header_length(path) -> int:
    with open(path, "rb") as file:
        return struct.unpack("<Q", file.read(8))[0]


def repad_header(path, low_byte: int) -> int:
    """Rewrite the safetensors file at `path` with its header padded with spaces (which the
    format allows and the checksum ignores) so that the header length ends in `low_byte`."""
    data = open(path, "rb").read()
    length = header_length(path)
    text = data[8:8 + length].rstrip(b" ")
    padded = text + b" " * ((low_byte - len(text)) % 256)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(padded)) + padded + data[8 + length:])
    return len(padded)


def rewrite_with_header(path, header: dict, buffer: bytes) -> None:
    """Write `header` (a minidl header, edited) with its checksum recomputed, as a forger
    would: the parser, not the checksum, must then catch what is wrong."""
    metadata = header["__metadata__"]
    if isinstance(metadata, dict) and "minidl.sha256" in metadata:
        digest = serialization._digest_start(header)
        digest.update(buffer)
        metadata["minidl.sha256"] = digest.hexdigest()
    write_raw(path, header, buffer)


def run_isolated(code: str, *args) -> dict:
    """Run `code` in a fresh Python, with a timeout, so that a call that blocks (on a FIFO)
    fails the test instead of hanging the suite; `code` prints one JSON line: the result."""
    prelude = ("import json, sys\n"
               "def report(**fields):\n"
               "    print(json.dumps(fields), flush=True)\n")
    result = subprocess.run([sys.executable, "-c", prelude + code, *map(str, args)],
                            capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


CALL_AND_REPORT = """
from minidl import load, save
try:
    if sys.argv[1] == "load":
        load(sys.argv[2])
    else:
        save({"epoch": 1}, sys.argv[2])
    report(error=None, message="")
except Exception as error:
    report(error=type(error).__name__, message=str(error))
"""


def entries(directory) -> list:
    return sorted(os.listdir(directory))


# ========================= formats told apart by structure (item 3) =========================
def test_every_header_length_low_byte_that_save_writes_loads():
    """save pads the header to a multiple of 8: its low byte takes 32 values, 0x80 (pickle's
    PROTO) among them. Every one loads."""
    seen = set()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ckpt.safetensors")
        for pad in range(0, 256):
            value = {"pad": "x" * pad, "w": np.arange(pad % 7, dtype=np.float32)}
            save(value, path)
            seen.add(header_length(path) % 256)
            assert_identical(value, load(path))
    assert seen == set(range(0, 256, 8))


@pytest.mark.parametrize("low_byte", range(256))
def test_any_header_length_low_byte_loads(tmp_path, low_byte):
    """Other writers may pad differently (the format only asks for spaces): every first byte,
    including 0x80, 'P' (zip) and 0x93 (.npy), belongs to a valid file."""
    value = {"w": np.arange(6, dtype=np.float64).reshape(2, 3), "epoch": 3}
    save(value, tmp_path / "minidl.safetensors")
    write_raw(tmp_path / "plain.safetensors",
              {"w": {"dtype": "I16", "shape": [3], "data_offsets": [0, 6]}},
              np.array([1, -2, 3], "<i2").tobytes())
    for name in ("minidl.safetensors", "plain.safetensors"):
        repad_header(tmp_path / name, low_byte)
        assert (tmp_path / name).read_bytes()[0] == low_byte
    assert_identical(value, load(tmp_path / "minidl.safetensors"))
    assert_identical({"w": np.array([1, -2, 3], np.int16)}, load(tmp_path / "plain.safetensors"))


@pytest.mark.parametrize("length, looks_like", [
    (0x0280, b"\x80\x02"), (0x0380, b"\x80\x03"), (0x0480, b"\x80\x04"),
    (0x0580, b"\x80\x05"),  # the start of a pickle of protocol 2, 3, 4, 5
    (0x950480, b"\x80\x04\x95"),  # protocol 4 with its FRAME opcode
    (0x04034B50, b"PK\x03\x04"),  # a zip (.npz or PyTorch) archive
])
def test_header_lengths_that_read_as_another_format_load(tmp_path, length, looks_like):
    """Not only the first byte: the whole prefix of another format's signature."""
    save({"w": np.ones(3, np.float32)}, tmp_path / "ckpt")
    _, buffer = read_header(tmp_path / "ckpt")
    text = (tmp_path / "ckpt").read_bytes()[8:8 + header_length(tmp_path / "ckpt")].rstrip()
    (tmp_path / "ckpt").write_bytes(struct.pack("<Q", length) + text
                                    + b" " * (length - len(text)) + buffer)
    assert (tmp_path / "ckpt").read_bytes().startswith(looks_like)
    assert_identical({"w": np.ones(3, np.float32)}, load(tmp_path / "ckpt"))


def test_pickles_and_pytorch_zips_are_still_refused_whatever_byte_8_is(tmp_path):
    """A protocol-2 pickle of [0x7b00, 1] has '{' at byte 8, where a safetensors header
    starts: its 'header length' does not fit in the file, so it is still a pickle."""
    data = pickle_of([0x7B00, 1])
    assert data[8:9] == b"{"
    (tmp_path / "p").write_bytes(data)
    with pytest.raises(ValueError, match="is a pickle"):
        load(tmp_path / "p")
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:
        archive.writestr("archive/data.pkl", pickle_of({"w": 1}))
    with pytest.raises(ValueError, match="a PyTorch checkpoint, i.e. a pickle"):
        load(tmp_path / "model.pt")


def pickle_of(value) -> bytes:
    import pickle
    return pickle.dumps(value, protocol=2)


# random nested structures: dicts (str and int keys), lists, tuples; leaves are arrays of every
# supported dtype and random shapes, NumPy scalars and JSON scalars
DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
          np.uint64, np.float16, np.float32, np.float64]


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    raw = draw(st.binary(min_size=dtype.itemsize * int(np.prod(shape)),
                         max_size=dtype.itemsize * int(np.prod(shape))))
    array = np.frombuffer(raw, dtype=np.uint8).view(dtype).reshape(shape).copy()
    if dtype == np.bool_:
        array = array.view(np.uint8) % 2 == 1  # bools are 0 or 1
    return array[()] if draw(st.booleans()) and array.ndim == 0 else array


leaves = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | arrays())
structures = st.recursive(
    leaves, lambda children: (st.lists(children, max_size=4)
                              | st.tuples(children, children)
                              | st.dictionaries(st.text(max_size=6) | st.integers(-5, 5),
                                                children, max_size=4)),
    max_leaves=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=structures, pad=st.text(max_size=300))
def test_random_structures_round_trip_exactly(value, pad):
    """`pad` (a string of any length, escaped or not in the header) spreads the header lengths
    over all the low bytes save can write."""
    value = {"value": value, "pad": pad}
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ckpt.safetensors")
        save(value, path)
        assert_identical(value, load(path))


# ----- the training checkpoints of fit -------------------------------------------------------
def tiny_run(seed: int):
    minidl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = ArrayDataset(rng.standard_normal((40, 1, 2, 2)).astype(np.float32),
                        rng.integers(0, 3, 40))
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer, DataLoader(data, batch_size=8, shuffle=True, seed=seed)


class PadHeaderBeforeCheckpoint(Callback):
    """Runs just before `saver` and sets its config to a string of the length that makes the
    header of the checkpoint it writes end in `low_byte` (a multiple of 8, as save pads)."""

    order = 99  # Checkpoint's is 100

    def __init__(self, saver: Checkpoint, low_byte: int, scratch):
        self.saver, self.low_byte, self.scratch = saver, low_byte, scratch

    def on_epoch_end(self, run) -> None:
        def state(config):
            return training_state(run.model, run.optimizer, run.scheduler, run.train_loader,
                                  run.epoch, run.history, run.callbacks, config)
        save(state({"pad": ""}), self.scratch)
        data = open(self.scratch, "rb").read()
        unpadded = len(data[8:8 + header_length(self.scratch)].rstrip(b" "))
        self.saver.config = {"pad": "x" * ((self.low_byte - unpadded) % 256)}


# the pickle opcodes that save's 8-byte-padded header lengths can start with
OPCODE_BYTES = sorted(op.code.encode("latin-1")[0] for op in pickletools.opcodes
                      if op.code.encode("latin-1")[0] % 8 == 0)


def test_opcode_bytes_include_proto():
    assert 0x80 in OPCODE_BYTES and ord("(") in OPCODE_BYTES and len(OPCODE_BYTES) >= 6


@pytest.mark.parametrize("low_byte", OPCODE_BYTES, ids=hex)
def test_fit_resumes_from_a_checkpoint_whose_first_byte_is_a_pickle_opcode(tmp_path, low_byte):
    model, optimizer, loader = tiny_run(seed=0)
    saver = Checkpoint(tmp_path, every=1)
    fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, progress="none",
        callbacks=[PadHeaderBeforeCheckpoint(saver, low_byte, tmp_path / "scratch"), saver])
    path = tmp_path / "epoch_001.safetensors"
    assert path.read_bytes()[0] == low_byte  # written so by the Checkpoint callback itself

    resumed, resumed_optimizer, resumed_loader = tiny_run(seed=7)
    history = fit(resumed, nn.CrossEntropyLoss(), resumed_optimizer, resumed_loader, 2,
                  resume=path, progress="none")
    assert history["epoch"] == [1, 2]
    epoch, _ = restore_training_state(path, resumed)
    assert epoch == 1
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name].data, value.data, name)


# ============================ special files: save (item 4) ==================================
@needs_fifo
def test_save_refuses_a_fifo_and_leaves_it_alone(tmp_path):
    fifo = tmp_path / "ckpt.safetensors"
    os.mkfifo(fifo)
    result = run_isolated(CALL_AND_REPORT, "save", fifo)
    assert result["error"] == "ValueError", result
    assert "is a FIFO (named pipe), not a regular file" in result["message"]
    assert str(fifo) in result["message"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert entries(tmp_path) == ["ckpt.safetensors"]  # no temporary file left


def test_save_refuses_a_directory_and_leaves_it_alone(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "inside").write_text("kept")
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        save({"epoch": 1}, tmp_path / "run")
    assert (tmp_path / "run" / "inside").read_text() == "kept"
    assert entries(tmp_path) == ["run"] and entries(tmp_path / "run") == ["inside"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_save_and_load_refuse_a_socket(tmp_path):
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        with pytest.raises(ValueError, match="is a socket"):
            save({"epoch": 1}, tmp_path / "sock")
        with pytest.raises(ValueError, match="is a socket"):
            load(tmp_path / "sock")
        assert stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
    finally:
        server.close()


def test_save_writes_through_a_symlink_and_keeps_it(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "runs").mkdir()
    target = tmp_path / "store" / "real.safetensors"
    save({"epoch": 1}, target)
    link = tmp_path / "runs" / "latest.safetensors"
    link.symlink_to(target)
    save({"epoch": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load(target) == {"epoch": 2} and load(link) == {"epoch": 2}
    # the temporary file was in the target's directory, and nothing is left in either
    assert entries(tmp_path / "store") == ["real.safetensors"]
    assert entries(tmp_path / "runs") == ["latest.safetensors"]
    # a relative link and a dangling link are written through too
    relative = tmp_path / "store" / "relative"
    relative.symlink_to("real.safetensors")
    save({"epoch": 3}, relative)
    assert relative.is_symlink() and load(target) == {"epoch": 3}
    dangling = tmp_path / "runs" / "next"
    dangling.symlink_to(tmp_path / "store" / "new.safetensors")
    save({"epoch": 4}, dangling)
    assert dangling.is_symlink() and load(tmp_path / "store" / "new.safetensors") == \
        {"epoch": 4}


@needs_fifo
def test_save_refuses_a_symlink_to_a_fifo_or_a_directory_and_a_loop(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to_fifo").symlink_to(tmp_path / "fifo")
    result = run_isolated(CALL_AND_REPORT, "save", tmp_path / "to_fifo")
    assert result["error"] == "ValueError", result
    assert "is a symbolic link to" in result["message"] and "FIFO" in result["message"]
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert (tmp_path / "to_fifo").is_symlink()

    (tmp_path / "dir").mkdir()
    (tmp_path / "to_dir").symlink_to(tmp_path / "dir")
    with pytest.raises(ValueError, match="symbolic link to .* which is a directory"):
        save({"epoch": 1}, tmp_path / "to_dir")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    with pytest.raises(ValueError, match="does not resolve"):
        save({"epoch": 1}, tmp_path / "loop_a")
    assert entries(tmp_path) == ["dir", "fifo", "loop_a", "loop_b", "to_dir", "to_fifo"]
    assert entries(tmp_path / "dir") == []


@needs_fifo
def test_save_refuses_a_fifo_that_appears_while_it_writes(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    real_write = serialization._write_payload

    def write_then_swap(file, header, buffers):
        real_write(file, header, buffers)
        os.mkfifo(path)  # someone else creates a FIFO at the target meanwhile

    monkeypatch.setattr(serialization, "_write_payload", write_then_swap)
    with pytest.raises(ValueError, match="FIFO"):
        save({"epoch": 1}, path)
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and entries(tmp_path) == ["ckpt"]


# ============================ special files: load (item 4) ==================================
@needs_fifo
def test_load_refuses_a_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "ckpt.safetensors")
    (tmp_path / "link").symlink_to(tmp_path / "ckpt.safetensors")
    for path in (tmp_path / "ckpt.safetensors", tmp_path / "link"):
        result = run_isolated(CALL_AND_REPORT, "load", path)
        assert result["error"] == "ValueError", result
        assert "is a FIFO (named pipe), not a regular file" in result["message"]


SWAPPED_AFTER_STAT = """
import os
from minidl import load
regular, fifo = sys.argv[1], sys.argv[2]
real_stat = os.stat
os.stat = lambda path, *a, **k: real_stat(regular if path == fifo else path, *a, **k)
try:
    load(fifo)  # stat sees a regular file; what is opened is a FIFO
    report(error=None, message="")
except Exception as error:
    report(error=type(error).__name__, message=str(error))
"""


@needs_fifo
def test_load_checks_what_it_opened_not_only_the_path(tmp_path):
    """A file swapped for a FIFO between the check of the path and the open: opening does not
    block (O_NONBLOCK) and the open descriptor is refused (fstat)."""
    save({"epoch": 1}, tmp_path / "regular")
    os.mkfifo(tmp_path / "fifo")
    result = run_isolated(SWAPPED_AFTER_STAT, tmp_path / "regular", tmp_path / "fifo")
    assert result["error"] == "ValueError" and "FIFO" in result["message"], result


def test_load_refuses_a_directory_and_follows_a_symlink_to_a_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        load(tmp_path)
    save({"epoch": 5}, tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert load(tmp_path / "link") == {"epoch": 5}


def test_load_reads_an_npz_from_the_file_it_checked(tmp_path, monkeypatch):
    """The .npz is read from the descriptor that was checked, never reopened by name (the name
    may be a FIFO or another file by then)."""
    np.savez(tmp_path / "a.npz", w=np.arange(3))
    np.savez(tmp_path / "other.npz", w=np.zeros(2))
    real_format_of = serialization._format_of

    def format_of_then_swap(start, size):
        os.replace(tmp_path / "other.npz", tmp_path / "a.npz")  # after the open
        return real_format_of(start, size)

    monkeypatch.setattr(serialization, "_format_of", format_of_then_swap)
    assert_identical({"w": np.arange(3)}, load(tmp_path / "a.npz"))


# ===================== malformed headers and structures (item 5) ============================
# JSON values of every type; each test below picks those of the wrong type for a field
JSON_VALUES = [None, True, 0, -1, 1.5, 2 ** 64, "x", "", [], [1], [-1], ["F32"], [[2]],
               [None], [1.5], [True], ["2"], {}, {"a": 1}, {"dict": []}]
NOT_STRINGS = [v for v in JSON_VALUES if not isinstance(v, str)]
NOT_LISTS_OF_COUNTS = [v for v in JSON_VALUES if not (
    isinstance(v, list) and all(type(n) is int and n >= 0 for n in v))]
NOT_COUNTS = [v for v in JSON_VALUES if not (type(v) is int and v >= 0)]


def valid_header(tmp_path):
    _, _, _, checkpoint = realistic_checkpoint()
    checkpoint["extras"] = {"nan": float("nan"), "scalar": np.float32(2), "t": (1, "a"),
                            "empty": np.zeros((0, 3), np.int8)}
    save(checkpoint, tmp_path / "ckpt")
    return read_header(tmp_path / "ckpt")


@pytest.mark.parametrize("wrong", NOT_STRINGS, ids=repr)
def test_a_dtype_of_another_json_type_is_the_format_error_not_a_type_error(tmp_path, wrong):
    write_raw(tmp_path / "bad", {"a": {"dtype": wrong, "shape": [1], "data_offsets": [0, 4]}},
              bytes(4))
    with pytest.raises(ValueError, match="expected dtype to be a string such as 'F32', got"):
        load(tmp_path / "bad")


@pytest.mark.parametrize("field, wrong_values, expected", [
    ("dtype", NOT_STRINGS, "expected dtype to be a string"),
    ("shape", NOT_LISTS_OF_COUNTS, "invalid shape: expected a list of integers >= 0"),
    ("data_offsets", NOT_LISTS_OF_COUNTS + [[0], [0, 1, 2]],
     "invalid data_offsets: expected \\[begin, end\\]"),
])
def test_tensor_fields_of_the_wrong_json_type_in_a_checkpoint(tmp_path, field, wrong_values,
                                                              expected):
    header, buffer = valid_header(tmp_path)
    for wrong in wrong_values:
        header["model/0.weight"][field] = wrong
        rewrite_with_header(tmp_path / "ckpt", header, buffer)
        with pytest.raises(ValueError, match=expected):
            load(tmp_path / "ckpt")


@pytest.mark.parametrize("edit, wrong_values, expected", [
    (lambda header, wrong: header["model/0.bias"]["shape"].append(wrong), NOT_COUNTS,
     "invalid shape"),
    (lambda header, wrong: header["model/0.bias"]["data_offsets"].insert(0, wrong), NOT_COUNTS,
     "invalid data_offsets"),
    (lambda header, wrong: header["__metadata__"].update(format=wrong), NOT_STRINGS,
     "expected __metadata__ to map strings to strings, got .* for 'format'"),
    (lambda header, wrong: header.update(__metadata__=wrong),
     [v for v in JSON_VALUES if not isinstance(v, dict)],
     "expected __metadata__ to be a JSON object mapping strings to strings"),
], ids=["shape element", "data_offsets element", "metadata value", "metadata"])
def test_elements_and_metadata_of_the_wrong_json_type(tmp_path, edit, wrong_values, expected):
    for wrong in wrong_values:
        header, buffer = valid_header(tmp_path)
        edit(header, wrong)
        if isinstance(header["__metadata__"], dict):
            rewrite_with_header(tmp_path / "ckpt", header, buffer)
        else:
            write_raw(tmp_path / "ckpt", header, buffer)
        with pytest.raises(ValueError, match=expected):
            load(tmp_path / "ckpt")


def json_nodes(node, path=()):
    """Every (path, node) of a JSON tree, the root included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from json_nodes(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from json_nodes(value, path + (index,))


def replaced(node, path, value):
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = replaced(node[path[0]], path[1:], value)
    return copy


FUZZ_VALUES = JSON_VALUES + [{"list": 1}, {"float": "NaN"}, {"array": 1}, {"tuple": {}},
                             {"scalar": "model/0.weight"}, {"dict": [[1, 2, 3]]}]


def load_outcome(path) -> str:
    """'loaded' or 'refused' (a ValueError from minidl.load); anything else fails the test."""
    try:
        load(path)
    except ValueError as error:
        assert str(error).startswith("minidl.load: "), error
        return "refused"
    return "loaded"


def test_fuzz_every_header_node_replaced_by_every_json_type(tmp_path):
    """Each node of the header (tensor entries, their fields and elements, the metadata)
    replaced by a value of each JSON type, the checksum recomputed: loaded or a ValueError."""
    header, buffer = valid_header(tmp_path)
    outcomes = []
    for path, _ in list(json_nodes(header))[1:]:
        for wrong in FUZZ_VALUES:
            edited = replaced(header, path, wrong)
            if isinstance(edited.get("__metadata__"), dict) and all(
                    isinstance(v, str) for v in edited["__metadata__"].values()):
                rewrite_with_header(tmp_path / "ckpt", edited, buffer)
            else:
                write_raw(tmp_path / "ckpt", edited, buffer)
            outcomes.append(load_outcome(tmp_path / "ckpt"))
    assert "refused" in outcomes


def test_fuzz_every_structure_node_replaced_by_every_json_type(tmp_path):
    """The same for minidl.structure (tags, their contents, dict entries and keys), whose
    errors only a forger could cause: the checksum is recomputed, so the decoder must catch
    them. Some replacements are valid (a list item replaced by another leaf) and load."""
    header, buffer = valid_header(tmp_path)
    structure = json.loads(header["__metadata__"]["minidl.structure"])
    outcomes = []
    for path, _ in list(json_nodes(structure)):
        for wrong in FUZZ_VALUES:
            edited = dict(header, __metadata__=dict(header["__metadata__"]))
            edited["__metadata__"]["minidl.structure"] = json.dumps(
                replaced(structure, path, wrong))
            rewrite_with_header(tmp_path / "ckpt", edited, buffer)
            outcomes.append(load_outcome(tmp_path / "ckpt"))
    assert {"loaded", "refused"} <= set(outcomes)  # the fuzz reached both


@pytest.mark.parametrize("structure, message", [
    ({"dict": [["a", 1], ["a", 2]]}, "appears twice"),
    ({"dict": [["a", 1, 2]]}, "expected each entry of a 'dict' tag"),
    ({"dict": [[1.5, 1]]}, "string or integer key"),
    ({"list": {"a": 1}}, "expected the 'list' tag .* to hold a list, got an object"),
    ({"float": ["nan"]}, "expected the 'float' tag .* 'nan', 'inf' or '-inf', got a list"),
    ({"array": ["model"]}, "to hold a tensor name \\(a string\\), got a list"),
    ({"bytes": "AAAA"}, "unknown tag 'bytes'"),
    ({"list": [], "tuple": []}, "expected a JSON scalar or a one-key object tag"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_malformed_structures_say_what_was_expected(tmp_path, structure, message):
    header, buffer = valid_header(tmp_path)
    header["__metadata__"]["minidl.structure"] = json.dumps(structure)
    rewrite_with_header(tmp_path / "ckpt", header, buffer)
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "ckpt")


def test_structures_nested_at_any_depth_load_or_are_a_value_error(tmp_path):
    """Never a RecursionError: too deep for the JSON parser or for the decoder is a
    ValueError."""
    header, buffer = valid_header(tmp_path)
    structure = header["__metadata__"]["minidl.structure"]
    outcomes = set()
    for depth in range(0, 2 * sys.getrecursionlimit(), 25):
        nested = '{"list": [' * depth + structure + "]}" * depth  # json.dumps would recurse
        header["__metadata__"]["minidl.structure"] = nested
        rewrite_with_header(tmp_path / "ckpt", header, buffer)
        outcomes.add(load_outcome(tmp_path / "ckpt"))
    assert outcomes == {"loaded", "refused"}


def test_error_messages_stay_one_short_line_for_huge_values(tmp_path):
    write_raw(tmp_path / "bad", {"a": {"dtype": "F32", "shape": ["x"] * 100_000,
                                       "data_offsets": [0, 4]}}, bytes(4))
    with pytest.raises(ValueError) as info:
        load(tmp_path / "bad")
    assert len(str(info.value)) < 400 and "\n" not in str(info.value)


@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_npz_bytes_are_value_errors(tmp_path, compressed):
    (np.savez_compressed if compressed else np.savez)(tmp_path / "a.npz",
                                                      w=np.arange(200.0), n=np.array(3))
    data = (tmp_path / "a.npz").read_bytes()
    rng = np.random.default_rng(0)
    for position in rng.choice(len(data), size=min(len(data), 300), replace=False):
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(8))
        (tmp_path / "d.npz").write_bytes(damaged)
        try:
            load(tmp_path / "d.npz")  # some bytes (timestamps, padding) are not checked
        except ValueError:
            pass


# ================= malformed training states: fit(resume=...) (items 3 and 5) ================
def saved_training_state(tmp_path, **changes):
    model, optimizer, loader = tiny_run(seed=0)
    state = training_state(model, optimizer, train_loader=loader, epoch=1)
    state.update(changes)
    save(state, tmp_path / "ckpt")
    return tmp_path / "ckpt"


@pytest.mark.parametrize("changes, message", [
    ({"epoch": "3"}, "expected 'epoch' to be an integer >= 0, got '3'"),
    ({"epoch": -1}, "expected 'epoch' to be an integer >= 0"),
    ({"epoch": [1]}, "expected 'epoch'"),
    ({"model": [1, 2]}, "expected 'model' to be a dict, got list"),
    ({"optimizer": "sgd"}, "expected 'optimizer' to be a dict or None, got str"),
    ({"rng": [1]}, "expected 'rng' to be a dict or None"),
    ({"rng": {"bit_generator": "PCG64"}}, "'rng' is not a valid PCG64 state"),
    ({"loader_rng": {"bit_generator": "PCG64", "state": [1]}}, "'loader_rng' is not a valid"),
    ({"history": {"records": 1}}, "not a History state"),
    ({"callbacks": [1]}, "expected 'callbacks' to be a dict or None"),
    ({"callbacks": {"EarlyStopping": {"best": 1.0}}}, "callback EarlyStopping is malformed"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_fit_resume_refuses_malformed_training_state_with_a_value_error(tmp_path, changes,
                                                                        message):
    path = saved_training_state(tmp_path, **changes)
    model, optimizer, loader = tiny_run(seed=1)
    before = {name: value.data.copy() for name, value in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        fit(model, nn.CrossEntropyLoss(), optimizer, loader, 2, resume=path, progress="none",
            callbacks=[minidl.train.EarlyStopping("train_loss")])
    if "callback" not in message:  # checked before anything was restored
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(value.data, before[name], name)
