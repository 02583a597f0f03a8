"""DataLoader: iterate over a data set in (optionally shuffled) batches."""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..tensor import Tensor


class DataLoader:
    """Batches of `(images, labels)` from a data set: images a float32 Tensor (B, ...), labels an
    int64 NumPy array (B,) of class indices (what `cross_entropy` takes).

    Args:
        dataset: anything with `len(dataset)` and `dataset[i] -> (image, label)`.
        batch_size: images per batch (a positive int).
        shuffle: visit the items in a new random order each epoch.
        drop_last: leave out the last batch if it is smaller than `batch_size`.
        seed: seeds the loader's own generator for shuffling; the same seed gives the same
            sequence of epoch orders in every run. None takes a seed from minidl's generator,
            so `minidl.manual_seed` makes the order reproducible too.

    Images must come out of the data set's transform as float32: minidl's data sets give
    uint8 images (0..255), and the loader does not convert them silently - give the data set
    `transform=transforms.ToFloat()` (scaled to [0, 1]) or a Compose starting with it, or the
    loader raises TypeError.

    Fast path: when the data set has a `get_batch(indices)` method (every ArrayDataset, so
    MNIST, FashionMNIST, CIFAR10), a batch is one slice of its `.data`/`.targets` arrays, and a
    transform from `minidl.data.transforms` runs once on the whole (B, C, H, W) batch. Other data
    sets are read item by item and stacked.

        loader = DataLoader(MNIST(transform=transforms.ToFloat()), batch_size=64, shuffle=True,
                            seed=0)
        for images, labels in loader:      # images (64, 1, 28, 28) float32, labels (64,) int64
            loss = F.cross_entropy(model(images), labels)
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: expected a data set with __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for flag, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, bool):
                raise TypeError(f"DataLoader: {flag} must be True or False, got {value!r}")
        if seed is not None and (not isinstance(seed, numbers.Integral)
                                 or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        if seed is None:
            seed = int(_random.default_generator().integers(2**63))
        self.generator = np.random.default_rng(int(seed))

    def __len__(self) -> int:
        """The number of batches in an epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self):
        count = len(self.dataset)
        order = self.generator.permutation(count) if self.shuffle else np.arange(count)
        for number in range(len(self)):
            indices = order[number * self.batch_size:(number + 1) * self.batch_size]
            yield self._load(indices)

    def _load(self, indices: np.ndarray) -> tuple[Tensor, np.ndarray]:
        get_batch = getattr(self.dataset, "get_batch", None)
        if callable(get_batch):
            images, labels = get_batch(indices)
        else:
            images, labels = self._stack([self.dataset[int(index)] for index in indices])
        images, labels = np.asarray(images), np.asarray(labels)
        if images.dtype != np.float32:
            hint = (" (uint8 pixels 0..255: give the data set transform=transforms.ToFloat(), "
                    "or a Compose starting with it)" if images.dtype == np.uint8 else "")
            raise TypeError(f"DataLoader: expected the data set to give float32 images, got "
                            f"{images.dtype}{hint}")
        if labels.dtype.kind not in "iu" or labels.shape != (len(indices),):
            raise TypeError(f"DataLoader: expected one integer class label per image, got "
                            f"dtype {labels.dtype} and shape {labels.shape}")
        # wrapped, not copied as Tensor(...) would: it is float32 (checked above) and
        # contiguous, layers only read their input, and a copy costs 10-100 us a step
        batch = Tensor._wrap(np.ascontiguousarray(images))
        return batch, labels.astype(np.int64, copy=False)

    @staticmethod
    def _stack(items: list) -> tuple[np.ndarray, np.ndarray]:
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(f"DataLoader: expected each item of the data set to be an "
                                f"(image, label) pair, got {type(item).__name__}")
        shapes = {np.shape(image) for image, _ in items}
        if len(shapes) > 1:
            raise ValueError(f"DataLoader: cannot stack images of different shapes "
                             f"{sorted(shapes)} into a batch")
        return (np.stack([np.asarray(image) for image, _ in items]),
                np.array([label for _, label in items]))

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
