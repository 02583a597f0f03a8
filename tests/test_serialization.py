"""Checkpoints: round trips, safetensors compatibility, refusing pickles, damaged files and
atomic writes."""
import json
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl import serialization
from minidl.optim import SGD
from minidl import load, save


# ----- helpers ------------------------------------------------------------------------------
def assert_identical(expected, actual, where="obj"):
    """Same structure, same types (Tensors come back as arrays, dicts as dicts), same dtypes
    and shapes, and the same bytes."""
    if isinstance(expected, minidl.Tensor):
        expected = expected.data
    if isinstance(expected, np.ndarray):
        assert type(actual) is np.ndarray, where
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert np.ascontiguousarray(actual).tobytes() == \
            np.ascontiguousarray(expected, dtype=actual.dtype).tobytes(), where
    elif isinstance(expected, np.generic):
        assert type(actual) is type(expected) and actual.dtype == expected.dtype, where
        assert actual.tobytes() == expected.tobytes(), where
    elif isinstance(expected, dict):
        assert type(actual) is dict, where
        assert list(actual) == list(expected), where
        assert [type(k) for k in actual] == [type(k) for k in expected], where
        for key in expected:
            assert_identical(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_identical(e, a, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert type(actual) is float and np.isnan(actual), where
    else:
        assert type(actual) is type(expected) and actual == expected, where
        if isinstance(expected, float):
            assert np.copysign(1, actual) == np.copysign(1, expected), where  # -0.0


def trained_model_and_optimizer(seed=0):
    minidl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    train_step(model, optimizer, np.random.default_rng(seed))
    return model, optimizer


def train_step(model, optimizer, rng):
    x = minidl.tensor(rng.standard_normal((8, 3)).astype(np.float32))
    target = minidl.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    optimizer.zero_grad()
    diff = model(x) - target
    (diff * diff).mean().backward()
    optimizer.step()


def realistic_checkpoint():
    model, optimizer = trained_model_and_optimizer()
    rng = np.random.default_rng(1234)
    rng.standard_normal(10)
    return model, optimizer, rng, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
        "rng": rng.bit_generator.state, "best_loss": 0.125, "history": [1.0, 0.5, 0.25]}


def read_header(path):
    data = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def write_raw(path, header, buffer=b"", length=None):
    """A safetensors-like file with this header (a dict or raw bytes) and buffer."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    pathlib.Path(path).write_bytes(
        struct.pack("<Q", len(text) if length is None else length) + text + buffer)


class MakesMarker:
    """Unpickling this creates the marker file: a stand-in for a malicious payload."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ----- round trips --------------------------------------------------------------------------
def test_realistic_checkpoint_round_trips_bit_identical(tmp_path):
    model, optimizer, rng, checkpoint = realistic_checkpoint()
    save(checkpoint, tmp_path / "ckpt.safetensors")
    loaded = load(tmp_path / "ckpt.safetensors")

    assert_identical(checkpoint, loaded)
    assert loaded["model"]["1.num_batches_tracked"].shape == ()
    assert loaded["model"]["1.num_batches_tracked"].dtype == np.int64
    assert loaded["model"]["0.weight"].dtype == np.float32
    assert sorted(loaded["optimizer"]["state"]) == [0, 1, 2, 3]  # int keys stay int
    assert loaded["optimizer"]["param_groups"][0]["nesterov"] is False

    # resuming from the checkpoint continues exactly like the original run
    resumed_model, resumed_optimizer = trained_model_and_optimizer(seed=7)
    resumed_model.load_state_dict(loaded["model"])
    resumed_optimizer.load_state_dict(loaded["optimizer"])
    resumed_rng = np.random.default_rng()
    resumed_rng.bit_generator.state = loaded["rng"]
    train_step(model, optimizer, rng)
    train_step(resumed_model, resumed_optimizer, resumed_rng)
    for key, value in model.state_dict().items():
        assert resumed_model.state_dict()[key].data.tobytes() == value.data.tobytes(), key


def test_tensors_come_back_as_independent_writable_arrays(tmp_path):
    tensor = minidl.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    save({"t": tensor, "same": [tensor, tensor]}, tmp_path / "t.safetensors")
    loaded = load(tmp_path / "t.safetensors")
    assert type(loaded["t"]) is np.ndarray and loaded["t"].flags.writeable
    np.testing.assert_array_equal(loaded["t"], tensor.data)
    loaded["same"][0][0, 0] = 100  # an array saved twice is stored twice
    assert loaded["same"][1][0, 0] == 0 and loaded["t"][0, 0] == 0 and tensor.data[0, 0] == 0


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2 ** 100, 1.5, -0.0, 5e-324, 1.7976931348623157e308,
    float("inf"), float("-inf"), float("nan"), "", "ünïcødé \u2603 \n\"quoted\"", "a/b",
    [], (), {}, [1, (2, [3, None]), {"k": ()}],
    {1: "int key", "1": "str key", "": "empty", -2: [1.0]},
    OrderedDict([("b", 1), ("a", 2)]),
    np.float32(1.5), np.float64(-2.25), np.int64(-3), np.uint8(200), np.bool_(True),
    np.float16(np.inf),
], ids=repr)
def test_scalars_and_containers_round_trip(tmp_path, value):
    save({"value": value}, tmp_path / "v.safetensors")
    assert_identical({"value": value}, load(tmp_path / "v.safetensors"))
    save(value, tmp_path / "top.safetensors")  # the top level needs not be a dict
    assert_identical(value, load(tmp_path / "top.safetensors"))


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                   np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                   np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (5,), (3, 4)])
def test_arrays_of_every_dtype_and_shape_round_trip(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    save({"a": array, "b": [array]}, tmp_path / "a.safetensors")
    assert_identical({"a": array, "b": [array]}, load(tmp_path / "a.safetensors"))


def test_special_float_values_are_bit_identical(tmp_path):
    array = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(np.float32).tiny,
                      np.float32(1e-45)], dtype=np.float32)
    save({"a": array}, tmp_path / "f.safetensors")
    assert load(tmp_path / "f.safetensors")["a"].tobytes() == array.tobytes()


def test_non_contiguous_and_big_endian_arrays(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    values = {
        "transposed": base.T, "strided": base[::2, ::-3], "fortran": np.asfortranarray(base),
        "broadcast": np.broadcast_to(np.arange(3.0), (4, 3)),
        "big_f8": base.astype(">f8"), "big_i8": np.arange(-3, 3, dtype=">i8"),
        "big_f4_view": base.astype(">f4")[:, 1::2], "big_0d": np.array(7, dtype=">i4"),
    }
    save(values, tmp_path / "nc.safetensors")
    loaded = load(tmp_path / "nc.safetensors")
    for name, value in values.items():
        assert loaded[name].dtype == value.dtype.newbyteorder("="), name
        assert loaded[name].dtype.isnative and loaded[name].flags.c_contiguous, name
        assert loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)
    _, buffer = read_header(tmp_path / "nc.safetensors")
    header, _ = read_header(tmp_path / "nc.safetensors")
    begin, end = header["big_i8"]["data_offsets"]
    assert buffer[begin:end] == np.arange(-3, 3, dtype="<i8").tobytes()  # little-endian


def test_paths_may_be_str_or_pathlike(tmp_path):
    save({"x": 1}, str(tmp_path / "s.ckpt"))
    save({"x": 2}, tmp_path / "p.ckpt")
    assert load(tmp_path / "s.ckpt") == {"x": 1} and load(str(tmp_path / "p.ckpt")) == {"x": 2}
    with pytest.raises(TypeError, match="path"):
        save({"x": 1}, 42)
    with pytest.raises(TypeError, match="path"):
        load(None)


def test_file_layout_header_padding_and_alignment(tmp_path):
    save({"a": np.ones(3, np.int8), "b": np.ones(3, np.float64), "c": np.ones(1, np.float32),
          "d": np.zeros((0, 2), np.float16), "e": np.int64(1)}, tmp_path / "l.safetensors")
    data = (tmp_path / "l.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0 and data[8:9] == b"{"
    header, buffer = read_header(tmp_path / "l.safetensors")
    metadata = header.pop("__metadata__")
    assert metadata["format"] == "np" and metadata["minidl.format"] == "1"
    assert len(metadata["minidl.sha256"]) == 64
    spans = sorted(info["data_offsets"] for info in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(buffer)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    sizes = {"I8": 1, "F64": 8, "F32": 4, "F16": 2, "I64": 8}
    for info in header.values():  # each tensor starts at a multiple of its element size
        assert info["data_offsets"][0] % sizes[info["dtype"]] == 0


def test_colliding_names_stay_distinct(tmp_path):
    value = {1: np.ones(2), "1": np.zeros(2), "a/b": np.full(2, 3.0), "a": {"b": np.full(2, 4.0)},
             "__metadata__": np.full(2, 5.0)}
    save(value, tmp_path / "c.safetensors")
    assert_identical(value, load(tmp_path / "c.safetensors"))
    header, _ = read_header(tmp_path / "c.safetensors")
    assert len(header) == 6  # five tensors and __metadata__


# ----- interoperability ---------------------------------------------------------------------
def test_files_are_readable_by_the_safetensors_package(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    _, _, _, checkpoint = realistic_checkpoint()
    checkpoint["extras"] = {"empty": np.zeros((0, 4), np.float32), "flag": np.array(True),
                            "big": np.arange(4, dtype=">f8")}
    path = tmp_path / "ckpt.safetensors"
    save(checkpoint, path)
    theirs = safetensors_numpy.load_file(str(path))
    expected = {f"model/{key}": value.data for key, value in checkpoint["model"].items()}
    expected.update({f"optimizer/state/{i}/momentum_buffer": state["momentum_buffer"]
                     for i, state in checkpoint["optimizer"]["state"].items()})
    expected.update({f"extras/{key}": value for key, value in checkpoint["extras"].items()})
    assert theirs.keys() == expected.keys()
    for name, value in expected.items():
        assert theirs[name].dtype == value.dtype.newbyteorder("="), name
        assert theirs[name].shape == value.shape, name
        np.testing.assert_array_equal(theirs[name], value, err_msg=name)
    with safe_open(str(path), framework="np") as file:
        metadata = file.metadata()
    structure = json.loads(metadata["minidl.structure"])
    assert structure["dict"][0] == ["model", {"dict": [
        ["0.weight", {"array": "model/0.weight"}], ["0.bias", {"array": "model/0.bias"}],
        ["1.weight", {"array": "model/1.weight"}], ["1.bias", {"array": "model/1.bias"}],
        ["1.running_mean", {"array": "model/1.running_mean"}],
        ["1.running_var", {"array": "model/1.running_var"}],
        ["1.num_batches_tracked", {"array": "model/1.num_batches_tracked"}]]}]

    # and files written by safetensors load as a flat dict of arrays
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(3, np.int64),
              "e": np.zeros(0, np.uint8)}
    safetensors_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"),
                                metadata={"format": "np"})
    loaded = load(tmp_path / "theirs.safetensors")
    assert loaded.keys() == arrays.keys()
    assert_identical(arrays, {name: loaded[name] for name in arrays})


# ----- refusing what cannot be saved safely -------------------------------------------------
Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("bad, where, what", [
    (np.array([1, "a"], dtype=object), "obj['model']['bad']", "dtype object"),
    (lambda: 0, "obj['model']['bad']", "function"),
    (print, "obj['model']['bad']", "builtin_function_or_method"),
    ({1, 2}, "obj['model']['bad']", "set"),
    (MakesMarker("x"), "obj['model']['bad']", "MakesMarker"),
    (np.ones(2, np.complex128), "obj['model']['bad']", "complex128"),
    (np.array(["a", "b"]), "obj['model']['bad']", "<U1"),
    (np.str_("a"), "obj['model']['bad']", "<U1"),
    (np.zeros(2, dtype=[("a", "f4")]), "obj['model']['bad']", "dtype"),
    (np.ma.masked_array([1.0]), "obj['model']['bad']", "masked"),
    (b"bytes", "obj['model']['bad']", "bytes"),
    (Point(1, 2), "obj['model']['bad']", "Point"),
    ([1, [2, object()]], "obj['model']['bad'][1][1]", "object"),
    ({(1, 2): 3}, "obj['model']['bad']", "key (1, 2)"),
    ({1.5: 3}, "obj['model']['bad']", "key 1.5"),
    ({True: 3}, "obj['model']['bad']", "key True"),
])
def test_refuses_what_is_not_data_and_names_where(tmp_path, bad, where, what):
    path = tmp_path / "ckpt.safetensors"
    save({"epoch": 1}, path)
    with pytest.raises(TypeError) as info:
        save({"model": {"ok": np.ones(2), "bad": bad}}, path)
    assert where in str(info.value) and what in str(info.value)
    assert load(path) == {"epoch": 1}  # nothing was written
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_refuses_a_structure_that_contains_itself(tmp_path):
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(TypeError, match=r"obj\['a'\]\[0\] contains itself"):
        save(loop, tmp_path / "loop")
    shared = [1.0]
    save({"a": shared, "b": shared}, tmp_path / "shared")  # shared but not cyclic: fine
    assert load(tmp_path / "shared") == {"a": [1.0], "b": [1.0]}


# ----- refusing pickles ---------------------------------------------------------------------
def test_the_marker_payload_is_live(tmp_path):
    """Control: unpickling the payload does create its marker, so the refusals below mean
    something."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(MakesMarker(marker)))
    assert marker.exists()


@pytest.mark.parametrize("name", ["ckpt.safetensors", "ckpt.npz", "ckpt.pt", "ckpt"])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_refuses_a_malicious_pickle_without_running_it(tmp_path, name, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"model": MakesMarker(marker)}, protocol=protocol))
    with pytest.raises(ValueError, match="pickle"):
        load(path)
    assert not marker.exists()


def test_refuses_an_old_protocol_pickle_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "ckpt").write_bytes(pickle.dumps(MakesMarker(marker), protocol=0))
    with pytest.raises(ValueError, match="not a checkpoint"):
        load(tmp_path / "ckpt")
    assert not marker.exists()


def test_refuses_a_pytorch_style_zip_holding_a_pickle(tmp_path):
    marker = tmp_path / "marker"
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(MakesMarker(marker)))
        archive.writestr("archive/version", "3\n")
    with pytest.raises(ValueError, match="pickle"):
        load(tmp_path / "model.pt")
    assert not marker.exists()


# ----- .npz ---------------------------------------------------------------------------------
def test_loads_npz_archives_by_content(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(3),
              "e": np.zeros((0, 2), np.int8)}
    np.savez(tmp_path / "arrays.npz", **arrays)
    os.replace(tmp_path / "arrays.npz", tmp_path / "arrays.bin")  # the name does not matter
    assert_identical(arrays, load(tmp_path / "arrays.bin"))
    np.savez_compressed(tmp_path / "compressed.npz", **arrays)
    assert_identical(arrays, load(tmp_path / "compressed.npz"))
    np.savez(tmp_path / "empty.npz")
    assert load(tmp_path / "empty.npz") == {}


def test_refuses_an_object_array_in_an_npz_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    np.savez(tmp_path / "evil.npz", fine=np.ones(2),
             evil=np.array([MakesMarker(marker)], dtype=object))
    assert not marker.exists()
    with pytest.raises(ValueError, match="object array"):
        load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_refuses_a_damaged_npz(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.ones(100))
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="zip"):
        load(tmp_path / "cut.npz")


# ----- damaged files ------------------------------------------------------------------------
def small_checkpoint(path):
    save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(2, np.int64),
          "step": 5, "lr": 0.1, "name": "run"}, path)
    return pathlib.Path(path).read_bytes()


@pytest.mark.parametrize("keep", [0, 1, 7, 8, 9, 40, "header", "header+1", "size-1"])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    data = small_checkpoint(tmp_path / "ckpt")
    length = 8 + struct.unpack("<Q", data[:8])[0]
    keep = {"header": length, "header+1": length + 1, "size-1": len(data) - 1}.get(keep, keep)
    (tmp_path / "ckpt").write_bytes(data[:keep])
    with pytest.raises(ValueError, match="truncated|ended early|not a checkpoint"):
        load(tmp_path / "ckpt")


def test_any_flipped_bit_is_detected(tmp_path):
    data = small_checkpoint(tmp_path / "ckpt")
    assert load(tmp_path / "ckpt")["step"] == 5
    for position in range(len(data)):
        for mask in (0x01, 0x80):
            damaged = bytearray(data)
            damaged[position] ^= mask
            (tmp_path / "ckpt").write_bytes(damaged)
            with pytest.raises(ValueError):
                load(tmp_path / "ckpt")


def test_flipped_data_byte_fails_the_checksum(tmp_path):
    data = bytearray(small_checkpoint(tmp_path / "ckpt"))
    data[-3] ^= 0x10
    (tmp_path / "ckpt").write_bytes(data)
    with pytest.raises(ValueError, match="SHA-256"):
        load(tmp_path / "ckpt")


def test_edited_structure_fails_the_checksum(tmp_path):
    small_checkpoint(tmp_path / "ckpt")
    header, buffer = read_header(tmp_path / "ckpt")
    header["__metadata__"]["minidl.structure"] = \
        header["__metadata__"]["minidl.structure"].replace('"step", 5', '"step", 6')
    write_raw(tmp_path / "ckpt", header, buffer)
    with pytest.raises(ValueError, match="SHA-256"):
        load(tmp_path / "ckpt")


def test_a_newer_format_version_is_refused(tmp_path):
    small_checkpoint(tmp_path / "ckpt")
    header, buffer = read_header(tmp_path / "ckpt")
    header["__metadata__"]["minidl.format"] = "2"
    write_raw(tmp_path / "ckpt", header, buffer)
    with pytest.raises(ValueError, match="newer minidl"):
        load(tmp_path / "ckpt")


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header, buffer, length, message", [
    ({"a": F32_2}, bytes(8), 10 ** 6, "beyond the end of the file"),
    ({"a": F32_2}, bytes(8), 2 ** 64 - 1, "beyond the end of the file"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}', bytes(8), None,
     "not valid JSON"),
    (b'{"a": 1} trailing', b"", None, "not valid JSON"),
    (b'{"a": NaN}', b"", None, "not valid JSON"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
     b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', bytes(16), None,
     "duplicate key"),
    (b'{"\xff": 1}', b"", None, "not valid JSON"),
    (b'["a"]', b"", None, "not a checkpoint"),
    ({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12),
     None, "overlap"),
    ({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, bytes(20),
     None, "gap"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12), None, "gap"),
    ({"a": F32_2}, bytes(12), None, "cover 8 bytes of data but the file holds 12"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, bytes(8), None,
     "dtype F32 and shape \\[2\\] need 8 bytes"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8), None,
     "need 12 bytes"),
    ({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), None,
     "unknown dtype"),
    ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4), None,
     "NumPy cannot represent"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), None,
     "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, bytes(8), None,
     "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8), None,
     "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, bytes(8), None,
     "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8), None, "expected exactly"),
    ({"a": {"dtype": "F32", "shape": [0, 2 ** 70], "data_offsets": [0, 0]}}, b"", None,
     "shape"),
    ({"a": F32_2, "__metadata__": {"k": 1}}, bytes(8), None, "strings to strings"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_tampered_header_is_a_clear_error(tmp_path, header, buffer, length, message):
    write_raw(tmp_path / "bad", header, buffer, length)
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "bad")


def test_not_a_checkpoint_at_all(tmp_path):
    (tmp_path / "text").write_text("hello world, this is not a checkpoint")
    with pytest.raises(ValueError, match="not a checkpoint"):
        load(tmp_path / "text")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes"):
        load(tmp_path / "empty")
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match=".npy"):
        load(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


# ----- atomic writes ------------------------------------------------------------------------
def fail_after_half(file, header, buffers):
    file.write(header[: len(header) // 2])
    raise OSError(28, "No space left on device (simulated)")


def interrupt(file, header, buffers):
    file.write(header)
    raise KeyboardInterrupt


def fail(*args, **kwargs):
    raise OSError(5, "Input/output error (simulated)")


@pytest.mark.parametrize("target, replacement, error", [
    (serialization, ("_write_payload", fail_after_half), OSError),
    (serialization, ("_write_payload", interrupt), KeyboardInterrupt),
    (os, ("fsync", fail), OSError),
    (os, ("replace", fail), OSError),
])
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, target,
                                                           replacement, error):
    path = tmp_path / "ckpt.safetensors"
    _, _, _, checkpoint = realistic_checkpoint()
    save(checkpoint, path)
    before = path.read_bytes()
    checkpoint["epoch"] = 4
    monkeypatch.setattr(target, *replacement)
    with pytest.raises(error):
        save(checkpoint, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load(path)["epoch"] == 3
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind


def test_a_crash_on_the_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "_write_payload", fail_after_half)
    with pytest.raises(OSError):
        save({"x": np.ones(3)}, tmp_path / "ckpt")
    assert os.listdir(tmp_path) == []


def test_overwrites_and_syncs(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "ckpt"
    save({"epoch": 1}, path)
    save({"epoch": 2}, path)
    assert load(path) == {"epoch": 2}
    assert len(synced) >= 2  # the file each time (and the directory where possible)
    assert os.listdir(tmp_path) == ["ckpt"]
    with pytest.raises(FileNotFoundError):
        save({"epoch": 1}, tmp_path / "no" / "such" / "dir" / "ckpt")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_permissions_follow_the_umask(tmp_path):
    save({"x": 1}, tmp_path / "ckpt")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "ckpt").st_mode & 0o777 == 0o666 & ~umask


KILLED_CHILD = """
import sys, time
import numpy as np
from minidl import serialization

def slow_write(file, header, buffers):
    file.write(header)
    file.flush()
    print("writing", flush=True)
    time.sleep(60)

serialization._write_payload = slow_write
serialization.save({"epoch": 4, "w": np.ones((100, 100))}, sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(subprocess.Popen, "kill"), reason="needs Popen.kill")
def test_a_process_killed_mid_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save({"epoch": 3, "w": np.zeros((100, 100))}, path)
    before = path.read_bytes()
    root = os.path.dirname(os.path.dirname(os.path.abspath(minidl.__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()  # SIGKILL: no clean-up code runs in the child
        child.wait()
        child.stdout.close()
    assert path.read_bytes() == before
    assert load(path)["epoch"] == 3
    # a killed process cannot remove its temporary file; it is hidden and never the target
    leftovers = [name for name in os.listdir(tmp_path) if name != "ckpt.safetensors"]
    assert all(name.startswith(".ckpt.safetensors.") and name.endswith(".tmp")
               for name in leftovers)
