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

`load` reads, by their content rather than their name:
  - these files, and other safetensors files (without "minidl.structure": a flat dict of
    arrays by tensor name, checked the same way but without a checksum);
  - .npz archives, through np.load(allow_pickle=False): a dict of arrays by name.
Pickles (including PyTorch's zip checkpoints) and object arrays are refused with a ValueError
without being unpickled: loading one could run arbitrary code. A truncated or damaged file is a
ValueError too.

`save` writes atomically: to a temporary file in the same directory ('.<name>.<random>.tmp'),
flushed and fsync'ed, then renamed over `path` (and the directory fsync'ed where the platform
allows). If saving fails, `path` keeps its previous content and the temporary file is removed;
only a process killed outright (SIGKILL, power loss) can leave such a temporary file behind,
never a half-written `path`.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import struct
import zipfile

import numpy as np

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
_STRUCTURE, _DIGEST, _VERSION = "minidl.structure", "minidl.sha256", "minidl.format"


# ========================================== save ==============================================
def save(obj, path) -> None:
    """Write `obj` (a nested structure of dicts, lists, tuples, arrays, Tensors and JSON
    scalars; see the module documentation) to `path` (str or os.PathLike), atomically.

    Raises TypeError, naming the place in `obj`, for anything that cannot be saved safely; in
    that case nothing is written.
    """
    path = _fspath(path, "minidl.save")
    arrays: list[tuple[str, np.ndarray]] = []
    structure = _encode(obj, (), arrays, set(), set())
    header, buffers = _build_header(structure, arrays)
    _atomic_write(path, header, buffers)


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


def _atomic_write(path: str, header: bytes, buffers: list) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory,
                             f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as open() would
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            _write_payload(file, header, buffers)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _write_payload(file, header: bytes, buffers: list) -> None:
    file.write(header)
    for buffer in buffers:
        file.write(_bytes_of(buffer))


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fspath(path, where: str) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: expected a path (str or os.PathLike), got "
                        f"{type(path).__name__}")
    return os.fsdecode(os.fspath(path))


# ========================================== load ==============================================
def load(path):
    """Read a checkpoint written by `save` (arrays come back as NumPy arrays), any other
    safetensors file or an .npz archive (both: a dict of arrays by name).

    The format is recognised by the file's content, not its name. Pickles, object arrays and
    anything else that would need code to run are refused with ValueError, as are truncated or
    damaged files (see the module documentation).
    """
    path = _fspath(path, "minidl.load")
    with open(path, "rb") as file:
        start = file.read(9)
        if start[:4] in _ZIP_MAGICS:
            file.close()
            return _load_npz(path)
        if start[:1] == b"\x80":
            raise ValueError(f"minidl.load: {path!r} is a pickle (e.g. from torch.save or "
                             f"pickle.dump); it is refused because unpickling can run arbitrary "
                             f"code. Convert it to a safetensors or .npz file where you trust it")
        if start[:6] == _NPY_MAGIC:
            raise ValueError(f"minidl.load: {path!r} is a single .npy array, not a checkpoint; "
                             f"read it with numpy.load(path, allow_pickle=False)")
        if len(start) < 9:
            raise ValueError(f"minidl.load: {path!r} is not a checkpoint: only {len(start)} "
                             f"bytes long (truncated or empty)")
        if start[8:9] != b"{":
            raise ValueError(f"minidl.load: {path!r} is not a checkpoint: it is neither a "
                             f"safetensors file nor an .npz archive")
        return _load_safetensors(file, path)


def _damaged(path: str, problem: str) -> ValueError:
    return ValueError(f"minidl.load: {path!r} is damaged or not a valid safetensors file: "
                      f"{problem}")


def _load_safetensors(file, path: str):
    size = os.fstat(file.fileno()).st_size
    (length,) = struct.unpack("<Q", _read_exactly(file, 0, 8, path))
    if length > size - 8:
        raise _damaged(path, f"the header length ({length} bytes) goes beyond the end of the "
                             f"file ({size} bytes): the file is truncated")
    if length > _MAX_HEADER:
        raise _damaged(path, f"the header is {length} bytes, more than the {_MAX_HEADER} allowed")
    header = _parse_json(_read_exactly(file, 8, length, path), path, "the header")
    if not isinstance(header, dict):
        raise _damaged(path, "the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _damaged(path, "__metadata__ must map strings to strings")
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
    structure = _parse_json(metadata[_STRUCTURE].encode("utf-8"), path, _STRUCTURE)
    used = set()
    result = _decode(structure, arrays, used, path)
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


def _parse_json(data: bytes, path: str, what: str):
    def no_duplicates(pairs):
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate key")
        return result

    def no_constants(name):
        raise ValueError(f"non-standard constant {name}")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates,
                          parse_constant=no_constants)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError, JSONDecodeError, ours
        raise _damaged(path, f"{what} is not valid JSON ({error})") from None


def _check_tensors(header: dict, buffer_size: int, path: str) -> list:
    """Validate every tensor entry; returns (name, dtype, shape, offsets) in file order."""
    tensors = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _damaged(path, f"tensor {name!r}: expected exactly 'dtype', 'shape' and "
                                 f"'data_offsets', got {info!r}")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype_name in _UNSUPPORTED_DTYPES:
            raise ValueError(f"minidl.load: {path!r}: tensor {name!r} has dtype {dtype_name}, "
                             f"which NumPy cannot represent")
        if not isinstance(dtype_name, str) or dtype_name not in _DTYPE_OF_NAME:
            raise _damaged(path, f"tensor {name!r}: unknown dtype {dtype_name!r}")
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            raise _damaged(path, f"tensor {name!r}: invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(_is_count(n) for n in offsets) and offsets[0] <= offsets[1]):
            raise _damaged(path, f"tensor {name!r}: invalid data_offsets {offsets!r}")
        dtype = _DTYPE_OF_NAME[dtype_name]
        expected = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != expected:
            raise _damaged(path, f"tensor {name!r}: dtype {dtype_name} and shape {shape} need "
                                 f"{expected} bytes, but data_offsets {offsets} hold "
                                 f"{offsets[1] - offsets[0]}")
        tensors.append((name, dtype, tuple(shape), tuple(offsets)))
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


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


def _decode(node, arrays: dict, used: set, path: str):
    if node is None or type(node) in (bool, int, float, str):
        return node
    if not (isinstance(node, dict) and len(node) == 1):
        raise _damaged(path, f"unexpected {type(node).__name__} in {_STRUCTURE}")
    ((tag, content),) = node.items()
    if tag in ("array", "scalar"):
        if not isinstance(content, str) or content not in arrays or content in used:
            raise _damaged(path, f"{_STRUCTURE} refers to tensor {content!r}, which is "
                                 f"missing or referred to twice")
        used.add(content)
        array = arrays[content]
        if tag == "array":
            return array
        if array.ndim != 0:
            raise _damaged(path, f"scalar {content!r} has shape {array.shape}")
        return array[()]
    if tag == "float" and content in ("nan", "inf", "-inf"):
        return float(content)
    if tag in ("list", "tuple") and isinstance(content, list):
        items = [_decode(item, arrays, used, path) for item in content]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and isinstance(content, list):
        result = {}
        for pair in content:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                raise _damaged(path, f"invalid dict entry {pair!r} in {_STRUCTURE}")
            result[pair[0]] = _decode(pair[1], arrays, used, path)
        return result
    raise _damaged(path, f"unknown node {tag!r} in {_STRUCTURE}")


def _load_npz(path: str) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
        others = [name for name in members if not name.endswith(".npy")]
        if others:
            raise ValueError(
                f"minidl.load: {path!r} is a zip archive but not an .npz of arrays: it holds "
                f"{others[:5]}" + (" (a PyTorch checkpoint, i.e. a pickle)" if any(
                    name.endswith(".pkl") for name in others) else "")
                + "; it is refused because unpickling can run arbitrary code")
        result = {}
        with np.load(path, allow_pickle=False) as archive:
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
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"minidl.load: {path!r} is a damaged zip/.npz archive ({error})") \
            from None
