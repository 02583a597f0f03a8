"""CIFAR-10, read from the official binary or python version, with a pickle reader that can
only rebuild NumPy arrays."""
from __future__ import annotations

import os
import pathlib
import pickle
import tarfile

import numpy as np

from .dataset import ArrayDataset
from .download import download_missing

try:  # NumPy >= 2 (numpy.core is a deprecated alias there)
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct

_RECORD_BYTES = 1 + 3 * 32 * 32  # the binary version: a label byte, then R, G, B planes
_NUMBER_OF_CLASSES = 10


class CIFAR10(ArrayDataset):
    """CIFAR-10 (Krizhevsky, 2009): 60,000 colour images 32x32 in 10 classes (50,000 train,
    10,000 test).

    `dataset[i]` is `(image, label)`: the transform applied to a uint8 image (3, 32, 32) in
    0..255 (channels R, G, B), and an int 0..9. `.data` holds all images channel-first, uint8
    (N, 3, 32, 32) (torchvision keeps (N, 32, 32, 3)); `.targets` the labels, int64 (N,).

    Args:
        root: the directory holding `cifar-10-batches-bin/` (the binary version:
            data_batch_1.bin .. data_batch_5.bin, test_batch.bin) or `cifar-10-batches-py/`
            (the python version: data_batch_1 .. data_batch_5, test_batch). The binary version
            is read if both are there.
        train: the training split (True) or the test split (False).
        download: if neither version is in `root`, fetch the python version
            (cifar-10-python.tar.gz, 163 MB, md5-checked) into `root` and extract it there.
        transform: a callable applied to each image, e.g. `transforms.ToFloat()`.

    The python version is pickled. It is read with an unpickler that admits only what the
    format needs to rebuild NumPy arrays; a file asking for anything else is refused with
    ValueError, never run.
    """

    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    archive = "cifar-10-python.tar.gz"
    archive_md5 = "c58f30108f718f92721af3b95e74349a"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root: str | os.PathLike, train: bool = True, download: bool = False,
                 transform=None):
        for flag, value in (("train", train), ("download", download)):
            if not isinstance(value, bool):
                raise TypeError(f"CIFAR10: {flag} must be True or False, got {value!r}")
        if root is None:
            raise ValueError("CIFAR10: root is required (minidl bundles no copy of CIFAR-10); "
                             "pass root='data/cifar10' with download=True, or a directory "
                             "holding cifar-10-batches-py/ or cifar-10-batches-bin/")
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"CIFAR10: root must be a directory path, got {root!r}")
        root = pathlib.Path(root)
        stems = [f"data_batch_{number}" for number in range(1, 6)] if train else ["test_batch"]
        versions = [  # (the files of the split, their reader), the binary version first
            ([root / "cifar-10-batches-bin" / f"{stem}.bin" for stem in stems], _read_binary),
            ([root / "cifar-10-batches-py" / stem for stem in stems], _read_python),
        ]
        complete = [(paths, reader) for paths, reader in versions
                    if all(path.is_file() for path in paths)]
        if not complete and download:
            download_missing([(self.archive, self.archive_md5)], self.mirrors, root, "CIFAR10")
            extract_tar(root / self.archive, root)
            complete = [versions[1]] if all(p.is_file() for p in versions[1][0]) else []
        if not complete:
            python_paths = versions[1][0]
            raise FileNotFoundError(
                f"CIFAR10: missing {', '.join(str(p) for p in python_paths if not p.is_file())} "
                f"(or the binary version's {', '.join(p.name for p in versions[0][0])} in "
                f"{versions[0][0][0].parent}); pass download=True, or extract "
                f"{self.archive} into {root}")
        paths, reader = complete[0]
        batches = [reader(path) for path in paths]
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        super().__init__(images, labels, transform)
        self.root, self.train = root, train

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (f"CIFAR10({split}, {len(self)} images, root={self.root}, "
                f"transform={self.transform!r})")


def _read_binary(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the binary version: records of 1 label byte + 3072 pixel bytes."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD_BYTES:
        raise ValueError(f"CIFAR10: {path}: expected records of {_RECORD_BYTES} bytes (a label "
                         f"and 3x32x32 pixels), got {raw.size} bytes (truncated or not a "
                         f"CIFAR-10 binary batch)")
    records = raw.reshape(-1, _RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    _check_labels(path, labels)
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else.

    Dicts, lists, bytes and numbers are pickle opcodes and need no class; an array needs
    `_reconstruct` (under its NumPy 1 or NumPy 2 module name), `ndarray` and `dtype`. Any other
    global - `os.system`, `builtins.eval`, ... - is refused before it can be called.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise ValueError(f"the pickle asks for {module}.{name}, but a CIFAR-10 batch may "
                             f"only rebuild NumPy arrays; refused (not run)") from None

    def persistent_load(self, pid):
        raise ValueError("the pickle uses persistent ids, which a CIFAR-10 batch never does")


def _read_python(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the python version: a pickled dict {b'data': uint8 (N, 3072), b'labels': [..]}.

    The official files were pickled by Python 2, hence encoding="bytes" (keys come back as
    bytes, as on the CIFAR page); str keys, as a Python 3 pickle may have, are accepted too.
    """
    try:
        with open(path, "rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
    except Exception as error:  # noqa: BLE001 - any failure of a corrupt pickle, named below
        raise ValueError(f"CIFAR10: {path}: cannot read this CIFAR-10 python batch: "
                         f"{error}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR10: {path}: expected a pickled dict, got "
                         f"{type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3 * 32 * 32):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise ValueError(f"CIFAR10: {path}: expected b'data' as uint8 (N, 3072), got {got}")
    try:
        labels = np.asarray(labels) if isinstance(labels, (list, np.ndarray)) else None
    except ValueError:  # a ragged list
        labels = None
    if labels is None or labels.dtype.kind not in "iu" or labels.shape != (len(data),):
        raise ValueError(f"CIFAR10: {path}: expected b'labels' as a list of {len(data)} "
                         f"integers (one per image)")
    labels = labels.astype(np.int64)
    _check_labels(path, labels)
    return data.reshape(-1, 3, 32, 32), labels


def _check_labels(path: pathlib.Path, labels: np.ndarray) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= _NUMBER_OF_CLASSES):
        raise ValueError(f"CIFAR10: {path}: labels must be 0..{_NUMBER_OF_CLASSES - 1}, got "
                         f"{labels.min()}..{labels.max()}")


def extract_tar(archive: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Extract a tar archive, refusing (ValueError) absolute paths, '..' and anything that is
    not a regular file or a directory (links, devices), before writing a single file."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                parts = member.name.replace("\\", "/").split("/")
                if member.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                    raise ValueError(f"{archive}: refusing to extract {member.name!r} "
                                     f"(absolute path or '..')")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive}: refusing to extract {member.name!r} (not a "
                                     f"regular file or directory)")
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(destination, members=members, **safe)
    except (tarfile.TarError, EOFError) as error:
        raise ValueError(f"{archive}: not a readable tar archive ({error})") from None
