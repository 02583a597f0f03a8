"""Files written and read safely: the one place that decides what a path may be.

Everything minidl writes (checkpoints, history CSVs, curves, summaries) goes through
`write_atomically` (downloads, which stream into a temporary file of their own, through
`replacement_target`), and every checkpoint it reads through `open_regular_file`, because the
same two mistakes are easy everywhere: rename(2) replaces whatever is at the target (as root it
once turned /dev/null into a regular file), and opening a FIFO for reading waits forever for a
writer.

Rules: a file is written only to a regular file or a new path; a symbolic link is written
through (the file it points to is replaced, in that file's directory, and the link stays a
link); anything else (a directory, a FIFO, a socket, a device, a link to one, a link loop) is a
ValueError and is left untouched. Writes go to a temporary file beside the target, flushed and
fsync'ed, then renamed over it, so a crash never leaves a half-written file.
"""
from __future__ import annotations

import os
import secrets
import stat


def kind_of(mode: int) -> str:
    """What an st_mode describes, for messages ("a FIFO (named pipe)", "a directory", ...)."""
    for is_kind, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                          (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link"),
                          (stat.S_ISREG, "a regular file")):
        if is_kind(mode):
            return kind
    return "a special file"


def replacement_target(path: str, where: str, what: str = "files") -> str:
    """The file a write to `path` replaces: `path` itself, or the file a symbolic link at `path`
    points to (so the link survives). ValueError unless that is a regular file or missing."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    check_replaceable(target, path, where, what)
    return target


def check_replaceable(target: str, path: str, where: str, what: str = "files") -> None:
    """ValueError unless `target` is missing or a regular file (`path`: the caller's name for
    it, which differs when it is a link to `target`)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return  # a new file (or a dangling link's target): created
    if stat.S_ISREG(mode):
        return
    found = kind_of(mode)
    if stat.S_ISLNK(mode):  # realpath stopped at a link: a loop, or one too deep to follow
        found = "a symbolic link that does not resolve (a loop?)"
    if target != path:
        found = f"a symbolic link to {target!r}, which is {found}"
    raise ValueError(f"{where}: {path!r} is {found}, not a regular file; {what} are written "
                     f"only to a regular file or a new path (it was left untouched)")


def write_atomically(path, write, where: str, what: str = "files", binary: bool = True) -> None:
    """Create or replace the file at `path` (see the module rules) with what `write(file)`
    writes into an open file object (binary, or text with newline='' when binary=False)."""
    path = os.fsdecode(os.fspath(path))
    target = replacement_target(path, where, what)
    directory = os.path.dirname(os.path.abspath(target))
    temporary = os.path.join(directory,
                             f".{os.path.basename(target)}.{secrets.token_hex(8)}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as open() would
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", newline="", encoding="utf-8")) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        # again: writing takes a while, and something else may have appeared at the target
        check_replaceable(target, path, where, what)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


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


# Opening must not wait (a FIFO without a writer) nor take a terminal as the controlling one;
# the descriptor is then refused unless it is a regular file, whose reads these flags do not
# change.
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_BINARY", 0))


def open_regular_file(path: str, where: str, what: str = "a file"):
    """`path` opened for reading in binary mode; ValueError unless it is a regular file."""
    # stat first, so a device is never even opened (opening some has effects of its own) ...
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _not_a_regular_file(path, mode, where, what)
    fd = os.open(path, _READ_FLAGS)
    try:
        # ... and fstat on what was opened: a file swapped for a FIFO meanwhile is still refused
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_regular_file(path, mode, where, what)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _not_a_regular_file(path: str, mode: int, where: str, what: str) -> ValueError:
    return ValueError(f"{where}: {path!r} is {kind_of(mode)}, not a regular file; {what} is "
                      f"read only from a regular file")
