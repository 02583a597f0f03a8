"""DataLoader: iterate over a data set in (optionally shuffled) batches, with PyTorch's arguments
(also importable as minidl.utils.data.DataLoader)."""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .collate import default_collate
from .split import shuffling_generator

_told_about_workers = False  # the num_workers note is given once per process


class DataLoader:
    """Batches of a data set, as torch.utils.data.DataLoader gives them.

    For an image data set (items `(image, label)`) a batch is `[images, labels]`: images a
    float32 Tensor (B, C, H, W), labels an int64 Tensor (B,) of class indices (what
    `cross_entropy` takes). Other items are collated by `default_collate`'s rules (PyTorch's):
    arrays and Tensors stacked along a new first dimension, ints into an int64 Tensor, floats
    into a float64 Tensor, tuples field by field, dicts key by key.

    Args:
        dataset: anything with `len(dataset)` and `dataset[i]`.
        batch_size: items per batch (a positive int).
        shuffle: visit the items in a new random order each epoch.
        drop_last: leave out the last batch if it is smaller than `batch_size`.
        num_workers: accepted for PyTorch code, but minidl always loads batches in the main
            process (minidl's data sets load a batch with one array slice, which workers
            would not speed up, and a forked worker runs kernels serially). A value above 0 gives the same batches, in the same order,
            as 0 would, and a one-time UserWarning says so.
        pin_memory: accepted and ignored: pinned memory only speeds up copies to a GPU, and
            minidl runs on the CPU.
        collate_fn: turns the list of items of a batch into the batch (default:
            `default_collate`). With one, items are always read one by one.
        generator: the random generator for shuffling: a numpy.random.Generator (such as
            `minidl.manual_seed(0)` returns) used as it is, or an int seed.
        seed: minidl's shorthand for generator=<int>. With neither, the loader seeds its own
            generator from minidl's, so `minidl.manual_seed` makes the order reproducible.
            The same seed gives the same sequence of epoch orders in every run.

    Images from minidl's image data sets must come out of their transform as float32: they
    are uint8 (0..255) until `transforms.ToFloat()` scales them, and the loader does not
    convert them silently - give the data set `transform=transforms.ToFloat()` or a Compose
    starting with it, or the loader raises TypeError.

    Fast paths, when no collate_fn is given: a data set with a `get_batch(indices)` method
    (every ArrayDataset, so MNIST, FashionMNIST, CIFAR10, and Subsets of them) gives a batch
    as one slice of its `.data`/`.targets` arrays, and a transform from
    `minidl.data.transforms` runs once on the whole (B, C, H, W) batch; a data set with a
    `collated_batch(indices)` method (TensorDataset and Subsets of it) gives the batch
    default_collate would make of its items, with one array index per tensor. Other data
    sets are read item by item and collated.

        loader = DataLoader(MNIST(transform=transforms.ToFloat()), batch_size=64, shuffle=True,
                            seed=0)
        for images, labels in loader:      # images (64, 1, 28, 28) float32, labels (64,) int64
            loss = F.cross_entropy(model(images), labels)
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, *, num_workers: int = 0,
                 pin_memory: bool = False, collate_fn=None, generator=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: expected a data set with __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for flag, value in (("shuffle", shuffle), ("drop_last", drop_last),
                            ("pin_memory", pin_memory)):
            if not isinstance(value, bool):
                raise TypeError(f"DataLoader: {flag} must be True or False, got {value!r}")
        if (not isinstance(num_workers, numbers.Integral) or isinstance(num_workers, bool)
                or num_workers < 0):
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got "
                             f"{num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable or None, got "
                            f"{collate_fn!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.num_workers, self.pin_memory = int(num_workers), pin_memory
        self.collate_fn = collate_fn
        self.generator = self._generator(seed, generator)
        if self.num_workers > 0:
            _note_in_process_loading(self.num_workers)

    @staticmethod
    def _generator(seed, generator) -> np.random.Generator:
        if seed is not None and (not isinstance(seed, numbers.Integral)
                                 or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        if generator is not None:
            return shuffling_generator(generator, "DataLoader")
        if seed is None:
            seed = int(_random.default_generator().integers(2**63))
        return np.random.default_rng(int(seed))

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

    def _load(self, indices: np.ndarray):
        if self.collate_fn is None:
            get_batch = getattr(self.dataset, "get_batch", None)
            if callable(get_batch):  # minidl's image data sets
                return self._image_batch(*get_batch(indices), count=len(indices))
            collated_batch = getattr(self.dataset, "collated_batch", None)
            if callable(collated_batch):  # TensorDataset: default_collate's batch in one go
                return collated_batch(indices)
        items = [self.dataset[int(index)] for index in indices]
        return (self.collate_fn or default_collate)(items)

    @staticmethod
    def _image_batch(images, labels, count: int) -> list:
        """[images, labels] from a data set's get_batch, checked: float32 images, one integer
        label per image."""
        images, labels = np.asarray(images), np.asarray(labels)
        if images.dtype != np.float32:
            hint = (" (uint8 pixels 0..255: give the data set transform=transforms.ToFloat(), "
                    "or a Compose starting with it)" if images.dtype == np.uint8 else "")
            raise TypeError(f"DataLoader: expected the data set to give float32 images, got "
                            f"{images.dtype}{hint}")
        if labels.dtype.kind not in "iu" or labels.shape != (count,):
            raise TypeError(f"DataLoader: expected one integer class label per image, got "
                            f"dtype {labels.dtype} and shape {labels.shape}")
        # wrapped, not copied as Tensor(...) would: they are of minidl dtypes (checked above)
        # and contiguous, layers only read their input, and a copy costs 10-100 us a step
        return [Tensor._wrap(np.ascontiguousarray(images)),
                Tensor._wrap(np.ascontiguousarray(labels, dtype=np.int64))]

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _note_in_process_loading(num_workers: int) -> None:
    global _told_about_workers
    if not _told_about_workers:
        _told_about_workers = True
        warnings.warn(f"DataLoader(num_workers={num_workers}): minidl loads batches in the main "
                      f"process; the batches and their order are those of num_workers=0 (this "
                      f"note is shown once)", UserWarning, stacklevel=3)
