"""Reader for the IDX format of the MNIST files (LeCun et al.), gzip-compressed or not.

Header, big-endian: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then one 4-byte size per dimension; the raw values follow.
"""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

_UNSIGNED_BYTE = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (.gz or plain) into a uint8 array of the shape its header gives.

    A corrupted or truncated file raises ValueError naming it; a missing one FileNotFoundError.
    """
    compressed = str(path).endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as stream:
            raw = stream.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a valid gzip file, corrupted or truncated "
                         f"({type(error).__name__}: {error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UNSIGNED_BYTE:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (expected the magic "
                         f"00 00 08 nn, got {raw[:4].hex(' ') or 'an empty file'})")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: expected {expected} bytes for shape {shape}, got {len(raw)} "
                         f"(truncated or corrupted file)")
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(shape).copy()
