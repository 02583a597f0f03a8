"""Safe checkpoints: `save(obj, path)` and `load(path)`, never pickle.

    minidl.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "epoch": epoch, "rng": rng.bit_generator.state}, "checkpoint.safetensors")
    checkpoint = minidl.load("checkpoint.safetensors")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])

What can be saved: nested dicts (keys str or int), lists and tuples of
  - NumPy arrays of dtype bool, int8/16/32/64, uint8/16/32/64, float16/32/64 (any layout and
    byte order: they are written C-ordered and little-endian),
  - minidl Tensors (their `.data`; `load` gives back NumPy arrays, not Tensors: the
    `load_state_dict` methods accept arrays),
  - NumPy scalars of those dtypes (given back as NumPy scalars of the same dtype),
  - None, bool, int, float (inf and nan included) and str.
Anything else (object arrays, other classes, functions, ...) is refused with a TypeError that
names where in the structure it was found. dict subclasses (OrderedDict, defaultdict) come back
as plain dicts with their keys in the same order; an array that appears twice is stored twice.

The file is a safetensors file (https://github.com/huggingface/safetensors), so any
safetensors reader can open it (`safetensors.numpy.load_file`):

    8 bytes        N, the length of the header, an unsigned little-endian 64-bit integer
    N bytes        the header: JSON, padded with spaces to a multiple of 8 bytes
                   {"<name>": {"dtype": "F32", "shape": [4, 3], "data_offsets": [begin, end]},
                    ...,
                    "__metadata__": {"format": "np", "minidl.format": "1",
                                     "minidl.structure": "<JSON>", "minidl.sha256": "<hex>"}}
    the rest       the arrays' bytes, C order, little-endian, back to back (offsets are relative
                   to the start of this buffer and cover it exactly, without gaps or overlaps)

Each array is stored under the path that leads to it, keys joined by "/" ("model/0.weight",
"optimizer/state/0/momentum_buffer"; "#2", "#3", ... is appended if two paths give the same
name, e.g. keys 1 and "1"). Everything that is not an array is in "minidl.structure", a JSON
tree in which every JSON object is a tag with one key:
    {"dict": [[key, value], ...]}   keys keep their type: a JSON string or a JSON integer
    {"list": [value, ...]}          {"tuple": [value, ...]}
    {"array": "<name>"}             {"scalar": "<name>"}   (a NumPy scalar, stored 0-d)
    {"float": "nan" | "inf" | "-inf"}
and JSON null, true, false, integers, finite floats and strings stand for themselves.
"minidl.sha256" is the SHA-256 of the header (serialised canonically: keys sorted, no spaces,
ASCII, without the "minidl.sha256" entry) followed by the buffer; `load` checks it, so a
flipped bit anywhere in the file is an error rather than a silently different checkpoint. It
detects corruption, not forgery: whoever can edit the file can recompute it.

`load` reads, by their structure rather than their name:
  - these files, and other safetensors files (without "minidl.structure": a flat dict of
    arrays by tensor name, checked the same way but without a checksum). A file is taken for
    safetensors when its first 8 bytes give a header length that fits in the file and the
    header starts with '{'; the first byte alone says nothing (it is the low byte of N);
  - .npz archives (zip), through np.load(allow_pickle=False): a dict of arrays by name.
Pickles (including PyTorch's zip checkpoints) and object arrays are refused with a ValueError
without being unpickled: loading one could run arbitrary code. So `load` is always
weights-only: it takes torch.load's `weights_only=True`, and refuses `weights_only=False`. A truncated or damaged file is a
ValueError too, whatever is wrong in it (a field of the wrong JSON type included), and so is a
path that is not a regular file (a directory, a FIFO, a socket, a device): `load` never reads
from one, so a FIFO does not block it.

`save` writes atomically: to a temporary file in the same directory ('.<name>.<random>.tmp'),
flushed and fsync'ed, then renamed over `path` (and the directory fsync'ed where the platform
allows). If saving fails, `path` keeps its previous content and the temporary file is removed;
only a process killed outright (SIGKILL, power loss) can leave such a temporary file behind,
never a half-written `path`. `path` must be a regular file or a new path; a symbolic link is
written through (the file it points to is replaced, in its own directory, and the link stays);
anything else is refused with a ValueError and left as it was.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ._files import open_regular_file, replacement_target, write_atomically
from .device import device, device_argument
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT_VERSION = "1"

# safetensors' dtype names <-> NumPy (little-endian) dtypes
_DTYPE_OF_NAME = {
    "BOOL": np.dtype("bool"),
    "U8": np.dtype("<u1"), "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAME_OF_DTYPE = {dtype: name for name, dtype in _DTYPE_OF_NAME.items()}
# safetensors dtypes that NumPy cannot represent
_UNSUPPORTED_DTYPES = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2",
                       "F4", "C64"}

_MAX_HEADER = 100 * 1024 * 1024  # the limit the safetensors reference reader uses
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTO = b"\x80"  # the opcode that starts a pickle of protocol 2 or later
_STRUCTURE, _DIGEST, _VERSION = "minidl.structure", "minidl.sha256", "minidl.format"


# ========================================== save ==============================================
def save(obj, path) -> None:
    """Write `obj` (a nested structure of dicts, lists, tuples, arrays, Tensors and JSON
    scalars; see the module documentation) to `path` (str or os.PathLike), atomically.

    `path` must be a regular file (replaced) or a new path (created). A symbolic link is
    written through: the file it points to is replaced atomically, in that file's directory,
    and the link stays a link. Anything else (a directory, a FIFO, a socket, a device, a link
    to one of them or a link loop) is refused with a ValueError and left untouched.

    Raises TypeError, naming the place in `obj`, for anything that cannot be saved safely; in
    that case nothing is written.
    """
    path = _fspath(path, "minidl.save")
    replacement_target(path, "minidl.save", what="checkpoints")  # refuse before encoding
    arrays: list[tuple[str, np.ndarray]] = []
    structure = _encode(obj, (), arrays, set(), set())
    header, buffers = _build_header(structure, arrays)
    _write_checkpoint(path, header, buffers)


def _encode(value, keys: tuple, arrays: list, names: set, active: set):
    """The JSON node for `value`; arrays found on the way are appended to `arrays`."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}  # 'nan', 'inf', '-inf'
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = value.data if isinstance(value, Tensor) else value
        if isinstance(array, np.ma.MaskedArray):
            raise TypeError(f"minidl.save: cannot save a masked array at {_where(keys)}: its "
                            f"mask would be lost; save .data and .mask separately")
        array = np.asarray(array)
        if array.dtype.newbyteorder("<") not in _NAME_OF_DTYPE:
            raise TypeError(f"minidl.save: cannot save an array of dtype {array.dtype} at "
                            f"{_where(keys)}: supported dtypes are bool, int8/16/32/64, "
                            f"uint8/16/32/64 and float16/32/64")
        name = _unique_name(keys, names)
        arrays.append((name, array))
        return {"scalar" if isinstance(value, np.generic) else "array": name}
    if isinstance(value, (dict, list, tuple)):
        if type(value) not in (list, tuple) and not isinstance(value, dict):
            raise TypeError(f"minidl.save: cannot save a {type(value).__name__} at "
                            f"{_where(keys)}: only plain lists and tuples are supported "
                            f"(for a namedtuple, save ._asdict())")
        if id(value) in active:
            raise TypeError(f"minidl.save: {_where(keys)} contains itself")
        active.add(id(value))
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if type(key) not in (str, int):
                    raise TypeError(f"minidl.save: cannot save the key {key!r} "
                                    f"({type(key).__name__}) in {_where(keys)}: dict keys "
                                    f"must be str or int")
                items.append([key, _encode(item, keys + (key,), arrays, names, active)])
            node = {"dict": items}
        else:
            node = {type(value).__name__: [_encode(item, keys + (i,), arrays, names, active)
                                           for i, item in enumerate(value)]}
        active.discard(id(value))
        return node
    raise TypeError(f"minidl.save: cannot save a {type(value).__module__}."
                    f"{type(value).__qualname__} at {_where(keys)}: only dicts, lists, tuples, "
                    f"NumPy arrays and scalars, Tensors, None, bool, int, float and str can be "
                    f"saved (never pickled objects)")


def _where(keys: tuple) -> str:
    return "obj" + "".join(f"[{key!r}]" for key in keys)


def _unique_name(keys: tuple, names: set) -> str:
    base = "/".join(str(key) for key in keys) or "obj"
    name, count = base, 1
    while name in names or name == "__metadata__":
        count += 1
        name = f"{base}#{count}"
    names.add(name)
    return name


def _build_header(structure, arrays: list) -> tuple[bytes, list[np.ndarray]]:
    """The padded header (with its length prefix) and the little-endian C-ordered buffers."""
    # Largest element size first, as the safetensors writers do: every tensor then starts at a
    # multiple of its element size (the buffer itself starts at a multiple of 8).
    arrays = sorted(arrays, key=lambda item: (-item[1].dtype.itemsize, item[0]))
    header, buffers, offset = {}, [], 0
    for name, array in arrays:
        little = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        header[name] = {"dtype": _NAME_OF_DTYPE[little.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + little.nbytes]}
        buffers.append(little)
        offset += little.nbytes
    header["__metadata__"] = {"format": "np", _VERSION: FORMAT_VERSION,
                              _STRUCTURE: json.dumps(structure, allow_nan=False)}
    digest = _digest_start(header)
    for buffer in buffers:
        digest.update(_bytes_of(buffer))
    header["__metadata__"][_DIGEST] = digest.hexdigest()
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, buffers


def _digest_start(header: dict):
    """A SHA-256 fed with the canonical form of `header` (without its digest entry)."""
    metadata = {k: v for k, v in header["__metadata__"].items() if k != _DIGEST}
    canonical = json.dumps({**header, "__metadata__": metadata}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii"))


def _bytes_of(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array (0-d and empty arrays included), without a copy."""
    return memoryview(array.reshape(-1).view(np.uint8))


def _write_checkpoint(path: str, header: bytes, buffers: list) -> None:
    write_atomically(path, lambda file: _write_payload(file, header, buffers), "minidl.save",
                     what="checkpoints")


def _write_payload(file, header: bytes, buffers: list) -> None:
    file.write(header)
    for buffer in buffers:
        file.write(_bytes_of(buffer))


def _fspath(path, where: str) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: expected a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    return os.fsdecode(os.fspath(path))


# ========================================== load ==============================================
def load(path, map_location=None, *, weights_only: bool | None = True):
    """Read a checkpoint written by `save` (arrays come back as NumPy arrays), any other
    safetensors file or an .npz archive (both: a dict of arrays by name).

    The format is recognised by the file's structure, not its name. Pickles, object arrays and
    anything else that would need code to run are refused with ValueError, as are truncated or
    damaged files and paths that are not regular files (a directory, a FIFO, a device, ...;
    never opened for reading, so a FIFO does not block). See the module documentation.

    Loading is always weights-only: `weights_only=True` (and None, PyTorch's "the default") is
    accepted for code written for torch.load and changes nothing; `weights_only=False`, which
    in PyTorch unpickles arbitrary objects, is refused with a ValueError, because minidl never
    unpickles.

    `map_location` (torch.load's) may be None, 'cpu' or minidl.device('cpu'): arrays are always
    loaded to the CPU, minidl's only device. A GPU is refused (DeviceUnavailableError), and so
    are the dict and function forms, which remap storages minidl does not have (TypeError).
    """
    _check_weights_only(weights_only)
    _check_map_location(map_location)
    path = _fspath(path, "minidl.load")
    with open_regular_file(path, "minidl.load", what="a checkpoint") as file:
        size = os.fstat(file.fileno()).st_size
        start = file.read(9)
        kind = _format_of(start, size)
        if kind == "safetensors":
            return _load_safetensors(file, size, path)
        if kind == "zip":
            return _load_npz(file, path)
        raise _refusal(kind, start, path)


def _check_weights_only(weights_only) -> None:
    if weights_only is None or weights_only is True:
        return
    if weights_only is False:
        raise ValueError("minidl.load(weights_only=False): minidl never unpickles (unpickling "
                         "can run arbitrary code), so every load is weights-only; drop the "
                         "argument or pass weights_only=True, and save models as "
                         "minidl.save(model.state_dict(), path)")
    raise TypeError(f"minidl.load: weights_only must be True or False, got {weights_only!r}")


def _check_map_location(map_location) -> None:
    if map_location is None:
        return
    if isinstance(map_location, (str, device)):
        device_argument(map_location, "minidl.load map_location")  # raises unless the CPU
        return
    raise TypeError(f"minidl.load: map_location must be None, 'cpu' or minidl.device('cpu') "
                    f"(every array is loaded to the CPU, minidl's only device), got "
                    f"{type(map_location).__name__}")


def _format_of(start: bytes, size: int) -> str:
    """'safetensors', 'zip', 'npy', 'pickle', 'short' or 'unknown', from the first 9 bytes and
    the size of the file.

    A safetensors file starts with its header length N (8 bytes, little-endian), so its first
    byte can be anything: 0x80, pickle's PROTO opcode, in 1 of 32 of minidl's own files. Its
    structure decides first: N fits in the file and the header starts with '{' (as the format
    requires; no zip, .npy or protocol 2+ pickle has '{' there with such an N).
    """
    if _starts_like_safetensors(start) and _header_length(start) <= size - 8:
        return "safetensors"
    if start[:4] in _ZIP_MAGICS:
        return "zip"
    if start[:6] == _NPY_MAGIC:
        return "npy"
    if start[:1] == _PICKLE_PROTO and start[1:2] and start[1] >= 2:  # PROTO 2, 3, 4, 5, ...
        return "pickle"
    if _starts_like_safetensors(start):
        return "safetensors"  # whose header does not fit: its reader says it is truncated
    return "short" if len(start) < 9 else "unknown"


def _starts_like_safetensors(start: bytes) -> bool:
    return start[8:9] == b"{"


def _header_length(start: bytes) -> int:
    return struct.unpack("<Q", start[:8])[0]


def _refusal(kind: str, start: bytes, path: str) -> ValueError:
    if kind == "pickle":
        truncated = (" (or, if it was a safetensors file, it is truncated: its header length "
                     "goes beyond the end of the file)") if _starts_like_safetensors(start) else ""
        return ValueError(f"minidl.load: {path!r} is a pickle (e.g. from torch.save or "
                          f"pickle.dump){truncated}; it is refused because unpickling can run "
                          f"arbitrary code. Convert it to a safetensors or .npz file where you "
                          f"trust it")
    if kind == "npy":
        return ValueError(f"minidl.load: {path!r} is a single .npy array, not a checkpoint; "
                          f"read it with numpy.load(path, allow_pickle=False)")
    if kind == "short":
        return ValueError(f"minidl.load: {path!r} is not a checkpoint: only {len(start)} "
                          f"bytes long (truncated or empty)")
    return ValueError(f"minidl.load: {path!r} is not a checkpoint: it is neither a "
                      f"safetensors file nor an .npz archive")


def _damaged(path: str, problem: str) -> ValueError:
    return ValueError(f"minidl.load: {path!r} is damaged or not a valid safetensors file: "
                      f"{problem}")


def _shown(value) -> str:
    """A JSON value for an error message: its JSON type and its (cut) repr."""
    return f"{_JSON_TYPE_NAMES.get(type(value), type(value).__name__)} {_cut(value)}"


def _cut(value, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters: a damaged header can hold a list of millions of
    numbers, and an error message is one line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


_JSON_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
                    float: "a number", bool: "a boolean", type(None): "null"}


def _load_safetensors(file, size: int, path: str):
    (length,) = struct.unpack("<Q", _read_exactly(file, 0, 8, path))
    if length > size - 8:
        raise _damaged(path, f"the header length ({length} bytes) goes beyond the end of the "
                             f"file ({size} bytes): the file is truncated")
    if length > _MAX_HEADER:
        raise _damaged(path, f"the header is {length} bytes, more than the {_MAX_HEADER} allowed")
    header = _parse_json(_read_exactly(file, 8, length, path), path, "the header")
    if not isinstance(header, dict):
        raise _damaged(path, f"expected the header to be a JSON object, got {_shown(header)}")
    metadata = _check_metadata(header.pop("__metadata__", {}), path)
    tensors = _check_tensors(header, size - 8 - length, path)

    digest = None
    minidl_keys = (_VERSION, _STRUCTURE, _DIGEST)
    if any(key in metadata for key in minidl_keys):  # a minidl checkpoint: all three, checked
        if not all(key in metadata for key in minidl_keys):
            raise _damaged(path, f"the minidl metadata lacks one of {list(minidl_keys)}")
        if metadata[_VERSION] != FORMAT_VERSION:
            raise ValueError(f"minidl.load: {path!r} has checkpoint format "
                             f"{metadata[_VERSION]!r}; this minidl reads format "
                             f"{FORMAT_VERSION!r} (was it written by a newer minidl?)")
        digest = _digest_start({**header, "__metadata__": metadata})

    arrays = {}
    file.seek(8 + length)
    for name, dtype, shape, _ in tensors:  # in file order
        try:
            array = np.empty(shape, dtype)
        except (ValueError, OverflowError, MemoryError) as error:
            raise _damaged(path, f"tensor {name!r}: shape {list(shape)} ({error})") from None
        view = _bytes_of(array)
        if file.readinto(view) != len(view):
            raise _damaged(path, "the file ended early (was it truncated while reading?)")
        if digest is not None:
            digest.update(view)
        arrays[name] = array.astype(dtype.newbyteorder("="), copy=False)  # native order
    if digest is None:
        return {name: arrays[name] for name in header}  # in the header's order
    if digest.hexdigest() != metadata[_DIGEST]:
        raise _damaged(path, "the SHA-256 checksum does not match: the data or header was "
                             "changed or corrupted after saving")
    structure = _parse_json(metadata[_STRUCTURE], path, _STRUCTURE)
    used = set()
    try:
        result = _decode(structure, arrays, used, path)
    except RecursionError:
        raise _damaged(path, f"{_STRUCTURE} is nested too deeply to decode") from None
    if used != arrays.keys():
        raise _damaged(path, f"tensors {sorted(arrays.keys() - used)} are not referenced by "
                             f"{_STRUCTURE}")
    return result


def _read_exactly(file, offset: int, count: int, path: str) -> bytes:
    file.seek(offset)
    data = file.read(count)
    if len(data) != count:
        raise _damaged(path, "the file ended early")
    return data


def _parse_json(data: bytes | str, path: str, what: str):
    def no_duplicates(pairs):
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate key")
        return result

    def no_constants(name):
        raise ValueError(f"non-standard constant {name}")

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError, JSONDecodeError, ours
        raise _damaged(path, f"{what} is not valid JSON ({error})") from None


def _check_metadata(metadata, path: str) -> dict:
    """The header's "__metadata__": a JSON object of strings, as the format defines it."""
    if not isinstance(metadata, dict):
        raise _damaged(path, f"expected __metadata__ to be a JSON object mapping strings to "
                             f"strings, got {_shown(metadata)}")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _damaged(path, f"expected __metadata__ to map strings to strings, got "
                                 f"{_shown(value)} for {key!r}")
    return metadata


def _check_tensors(header: dict, buffer_size: int, path: str) -> list:
    """Validate every tensor entry; returns (name, dtype, shape, offsets) in file order."""
    tensors = [(name, *_check_tensor_entry(name, info, path)) for name, info in header.items()]
    tensors.sort(key=lambda t: t[3])
    end = 0
    for name, _, _, (begin, stop) in tensors:
        if begin != end:
            raise _damaged(path, f"tensor {name!r} starts at byte {begin} of the data, expected "
                                 f"{end} (" + ("overlap" if begin < end else "gap") + ")")
        end = stop
    if end != buffer_size:
        raise _damaged(path, f"the tensors cover {end} bytes of data but the file holds "
                             f"{buffer_size}" + (" (truncated)" if end > buffer_size else ""))
    return tensors


def _check_tensor_entry(name: str, info, path: str) -> tuple:
    """(dtype, shape, offsets) of one header entry, each field checked for its JSON type
    before its value is used (a list where a string belongs must not reach a set lookup)."""
    label = _cut(name)  # a JSON key: any length
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise _damaged(path, f"tensor {label}: expected exactly the keys 'dtype', 'shape' "
                             f"and 'data_offsets' (a JSON object), got {_shown(info)}")
    dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype_name, str):
        raise _damaged(path, f"tensor {label}: expected dtype to be a string such as 'F32', "
                             f"got {_shown(dtype_name)}")
    if dtype_name in _UNSUPPORTED_DTYPES:
        raise ValueError(f"minidl.load: {path!r}: tensor {label} has dtype {dtype_name}, "
                         f"which NumPy cannot represent")
    if dtype_name not in _DTYPE_OF_NAME:
        raise _damaged(path, f"tensor {label}: unknown dtype {_cut(dtype_name)} (expected "
                             f"one of {', '.join(_DTYPE_OF_NAME)})")
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        raise _damaged(path, f"tensor {label}: invalid shape: expected a list of integers "
                             f">= 0, got {_shown(shape)}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(_is_count(n) for n in offsets) and offsets[0] <= offsets[1]):
        raise _damaged(path, f"tensor {label}: invalid data_offsets: expected [begin, end], "
                             f"integers with 0 <= begin <= end, got {_shown(offsets)}")
    dtype = _DTYPE_OF_NAME[dtype_name]
    expected = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != expected:
        raise _damaged(path, f"tensor {label}: dtype {dtype_name} and shape {_cut(shape)} "
                             f"need {expected} bytes, but data_offsets {offsets} hold "
                             f"{offsets[1] - offsets[0]}")
    return dtype, tuple(shape), tuple(offsets)


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


_TAGS = ("dict", "list", "tuple", "array", "scalar", "float")


def _decode(node, arrays: dict, used: set, path: str):
    if node is None or type(node) in (bool, int, float, str):
        return node
    if not (isinstance(node, dict) and len(node) == 1):
        raise _damaged(path, f"expected a JSON scalar or a one-key object tag ({', '.join(_TAGS)}"
                             f") in {_STRUCTURE}, got {_shown(node)}")
    ((tag, content),) = node.items()
    if tag in ("array", "scalar"):
        return _decode_array(tag, content, arrays, used, path)
    if tag == "float":
        if content not in ("nan", "inf", "-inf"):
            raise _damaged(path, f"expected the 'float' tag of {_STRUCTURE} to hold 'nan', "
                                 f"'inf' or '-inf', got {_shown(content)}")
        return float(content)
    if tag not in _TAGS:
        raise _damaged(path, f"unknown tag {tag!r} in {_STRUCTURE} (expected one of "
                             f"{', '.join(_TAGS)})")
    if not isinstance(content, list):
        raise _damaged(path, f"expected the {tag!r} tag of {_STRUCTURE} to hold a list, got "
                             f"{_shown(content)}")
    if tag == "dict":
        return _decode_dict(content, arrays, used, path)
    items = [_decode(item, arrays, used, path) for item in content]
    return items if tag == "list" else tuple(items)


def _decode_array(tag: str, name, arrays: dict, used: set, path: str):
    if not isinstance(name, str):
        raise _damaged(path, f"expected the {tag!r} tag of {_STRUCTURE} to hold a tensor name "
                             f"(a string), got {_shown(name)}")
    if name not in arrays or name in used:
        raise _damaged(path, f"{_STRUCTURE} refers to tensor {name!r}, which is missing or "
                             f"referred to twice")
    used.add(name)
    array = arrays[name]
    if tag == "array":
        return array
    if array.ndim != 0:
        raise _damaged(path, f"scalar {name!r} has shape {array.shape}, expected ()")
    return array[()]


def _decode_dict(pairs: list, arrays: dict, used: set, path: str) -> dict:
    result = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
            raise _damaged(path, f"expected each entry of a 'dict' tag in {_STRUCTURE} to be "
                                 f"[key, value] with a string or integer key, got "
                                 f"{_shown(pair)}")
        key, value = pair
        if key in result:  # save writes each key once; a second would silently replace it
            raise _damaged(path, f"the key {key!r} appears twice in a dict of {_STRUCTURE}")
        result[key] = _decode(value, arrays, used, path)
    return result


def _load_npz(file, path: str) -> dict:
    """The arrays of the zip archive open in `file` (read from it, not reopened by name)."""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            members = archive.namelist()
        others = [name for name in members if not name.endswith(".npy")]
        if others:
            raise ValueError(
                f"minidl.load: {path!r} is a zip archive but not an .npz of arrays: it holds "
                f"{others[:5]}" + (" (a PyTorch checkpoint, i.e. a pickle)" if any(
                    name.endswith(".pkl") for name in others) else "")
                + "; it is refused because unpickling can run arbitrary code")
        result = {}
        file.seek(0)
        with np.load(file, allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    result[name] = archive[name]
                except ValueError as error:
                    if "allow_pickle" not in str(error):
                        raise ValueError(f"minidl.load: {path!r}: array {name!r} of the .npz "
                                         f"archive is damaged ({error})") from None
                    raise ValueError(f"minidl.load: {path!r}: array {name!r} is an object "
                                     f"array, stored as a pickle; it is refused because "
                                     f"unpickling can run arbitrary code") from None
        return result
    except _DAMAGED_ZIP_ERRORS as error:
        raise ValueError(f"minidl.load: {path!r} is a damaged zip/.npz archive "
                         f"({type(error).__name__}: {error})") from None


# What zipfile and its decompressors raise for damaged content (besides ValueError): a bad
# deflate stream is a zlib.error, an unknown or encrypted method NotImplementedError or
# RuntimeError, a bad xz stream an LZMAError, a bad bzip2 stream an OSError.
_DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError,
                       EOFError, OSError, NotImplementedError, RuntimeError)
