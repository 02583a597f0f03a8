"""MNIST and Fashion-MNIST, read from the official gzip IDX files."""
from __future__ import annotations

import os
import pathlib

import numpy as np

from .dataset import ArrayDataset
from .download import download_missing
from .idx import read_idx

BUNDLED = pathlib.Path(__file__).resolve().parent / "bundled"


class MNIST(ArrayDataset):
    """The MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0): 28x28, 10 classes.

    `dataset[i]` is `(image, label)`: the transform applied to a uint8 image (1, 28, 28) in
    0..255, and an int 0..9. `.data` holds all images, uint8 (N, 28, 28); `.targets` the labels,
    int64 (N,). Use `transforms.ToFloat()` (float32 in [0, 1]) before feeding a model.

    Args:
        root: a directory holding the official files `train-images-idx3-ubyte.gz`,
            `train-labels-idx1-ubyte.gz` (60,000 training images), `t10k-images-idx3-ubyte.gz`,
            `t10k-labels-idx1-ubyte.gz` (10,000 test images). None (the default) uses the
            copy bundled with minidl, a 15,000-image subset: `train=True` gives a 5,000-image
            training sample (500 per class, sorted by class: shuffle it), `train=False` the
            official 10,000 test images. No download needed.
        train: the training split (True) or the test split (False).
        download: fetch the files of the split that `root` lacks from the official mirrors
            (md5-checked). Needs a `root`.
        transform: a callable applied to each image, e.g. `transforms.ToFloat()`.

    The full 60,000-image training set: `MNIST(root="data/mnist", download=True)`, or copy the
    four official files into a directory and pass it as `root`.
    """

    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
    md5s = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    #: the directory of the bundled subset (None for a data set that has none)
    bundled = BUNDLED

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = False, transform=None):
        name = type(self).__name__
        for flag, value in (("train", train), ("download", download)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        if root is None:
            if self.bundled is None:
                raise ValueError(f"{name}: root is required (minidl bundles no copy of "
                                 f"{name}); pass root='data/{name.lower()}' with download=True, "
                                 f"or a directory holding the official files "
                                 f"{', '.join(self.md5s)}")
            if download:
                raise ValueError(f"{name}: download=True needs a root directory to save the "
                                 f"full data set in; root=None reads the bundled subset, which "
                                 f"needs no download")
            directory, prefix = self.bundled, "train5k" if train else "t10k"
        else:
            if not isinstance(root, (str, os.PathLike)):
                raise TypeError(f"{name}: root must be a directory path or None, got {root!r}")
            directory, prefix = pathlib.Path(root), "train" if train else "t10k"
        files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        if download:
            download_missing([(file, self.md5s[file]) for file in files], self.mirrors,
                             directory, name)
        paths = [directory / file for file in files]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{name}: missing {', '.join(missing)}; pass download=True "
                                    f"to fetch them, or copy the official files there")
        images, labels = (read_idx(path) for path in paths)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"{name}: {paths[0]}: expected images of shape (N, 28, 28), got "
                             f"{images.shape}")
        if labels.shape != (len(images),):
            raise ValueError(f"{name}: {paths[1]}: expected {len(images)} labels (one per "
                             f"image), got an array of shape {labels.shape}")
        if len(labels) and labels.max() >= len(self.classes):
            raise ValueError(f"{name}: {paths[1]}: labels must be 0..{len(self.classes) - 1}, "
                             f"got {labels.max()}")
        super().__init__(images, labels.astype(np.int64), transform)
        self.root, self.train = directory, train

    def __repr__(self) -> str:
        root = "bundled subset" if self.root == self.bundled else str(self.root)
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}({split}, {len(self)} images, root={root}, "
                f"transform={self.transform!r})")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando Research, MIT license): 28x28 grey images
    of clothes in 10 classes, in MNIST's IDX format and file names.

    Like `MNIST`, but `root` is required: minidl bundles no copy.
    `FashionMNIST(root="data/fashion", download=True)` fetches the official files, or copy
    `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
    `t10k-labels-idx1-ubyte.gz` of Fashion-MNIST into that directory (not the one of MNIST:
    the file names are the same).
    """

    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    md5s = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    bundled = None
