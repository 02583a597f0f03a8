"""Downloading data set files with the standard library: mirrors, a progress bar, an md5
check and an atomic write.

A download goes to a temporary file beside its destination and is moved into place with
`os.replace` only once its md5 matches, so an interrupted or corrupted download never leaves a
half-written file under the real name. The progress bar is tqdm's if tqdm is installed (an
optional extra), else one line of percentages on stderr.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request

from .._files import replacement_target

_CHUNK = 1 << 16
_TIMEOUT_SECONDS = 30


class NetworkError(OSError):
    """A file could not be fetched (no network, server error, connection cut)."""


def open_url(url: str):
    """Open `url` for reading: the one function that touches the network (tests replace it)."""
    return urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS)


def md5_of(path: str | os.PathLike) -> str:
    """The md5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


class _PercentLine:
    """The fallback progress bar: `name:  42% (1.2 MB of 9.9 MB)` rewritten in place on stderr."""

    def __init__(self, total: int | None, name: str):
        self.total, self.name, self.done, self.shown = total, name, 0, None

    def update(self, count: int) -> None:
        self.done += count
        if self.total:
            percent = min(100, 100 * self.done // self.total)
            if percent != self.shown:
                self.shown = percent
                sys.stderr.write(f"\r{self.name}: {percent:3d}% ({_size(self.done)} of "
                                 f"{_size(self.total)})")
        else:
            sys.stderr.write(f"\r{self.name}: {_size(self.done)}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _progress_bar(total: int | None, name: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return _PercentLine(total, name)
    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024)


def _content_length(response) -> int | None:
    headers = getattr(response, "headers", None)
    length = headers.get("Content-Length") if headers is not None else None
    return int(length) if length and length.isdigit() else None


def fetch(url: str, path: str | os.PathLike, md5: str) -> None:
    """Download `url` to `path`, checking its md5; `path` appears only if the md5 matches.

    Raises NetworkError when the file cannot be fetched, and ValueError (naming the file, the
    expected and the obtained md5) when the download does not match `md5`; either way nothing
    is left behind. Errors writing the local file (disk full, no permission) pass through.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part",
                                             dir=os.path.dirname(os.path.abspath(path)))
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(descriptor, "wb") as out:
            try:
                response = open_url(url)
            except (OSError, http.client.HTTPException) as error:
                raise NetworkError(_reason(error)) from error
            with response:
                bar = _progress_bar(_content_length(response), name)
                try:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except (OSError, http.client.HTTPException) as error:
                            raise NetworkError(_reason(error)) from error
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename makes it the data file
        got = digest.hexdigest()
        if got != md5:
            raise ValueError(f"{name}: md5 mismatch for the download from {url}: expected {md5}, "
                             f"got {got} (the download was deleted)")
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; data files are world-readable
        # never over a FIFO or a device; through a symbolic link to the file it names
        os.replace(temporary, replacement_target(path, "download", what="data files"))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _reason(error: BaseException) -> str:
    """A one-line description of a network error."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def download_missing(files: list[tuple[str, str]], mirrors: list[str] | tuple[str, ...],
                     root: str | os.PathLike, dataset: str) -> None:
    """Download each `(file name, md5)` of `files` that `root` lacks, trying the mirrors in order.

    A mirror is a URL prefix ending in "/". When no mirror can be reached, raises one
    RuntimeError on one line naming the files still missing and the directory to put them in.
    An md5 mismatch raises ValueError (see `fetch`) without trying the other mirrors.
    """
    root = os.path.abspath(os.fspath(root))
    os.makedirs(root, exist_ok=True)
    missing = [(name, md5) for name, md5 in files
               if not os.path.exists(os.path.join(root, name))]
    for position, (name, md5) in enumerate(missing):
        failures = []
        for mirror in mirrors:
            try:
                fetch(mirror + name, os.path.join(root, name), md5)
                break
            except NetworkError as error:
                failures.append(f"{mirror}{name}: {error}")
        else:
            names = ", ".join(name for name, _ in missing[position:])
            raise RuntimeError(f"{dataset}: cannot download {names} ({'; '.join(failures)}); "
                               f"without a network, copy {names} into {root} yourself")
