"""Subset and random_split (PyTorch's names), and the one rule for a shuffling `generator=`."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random
from .dataset import Dataset

__all__ = ["Subset", "random_split"]


def shuffling_generator(generator, where: str) -> np.random.Generator:
    """The NumPy generator a `generator=` argument stands for: a np.random.Generator (such as
    the one `minidl.manual_seed` returns) is used as it is, a non-negative int seeds a new one,
    None means minidl's default generator (so `minidl.manual_seed` makes it reproducible)."""
    if generator is None:
        return _random.default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool) \
            and generator >= 0:
        return np.random.default_rng(int(generator))
    raise TypeError(f"{where}: expected generator to be a numpy.random.Generator, a "
                    f"non-negative int seed or None, got {generator!r}")


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order: `Subset(d, [4, 1])[0]` is `d[4]`.

    A DataLoader over a Subset of an ArrayDataset (MNIST, CIFAR10, ...) or a TensorDataset
    still loads each batch with one array index (`get_batch`, `collated_batch`), as it does
    over the whole data set.
    """

    def __init__(self, dataset, indices):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"Subset: expected a data set with __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        array = np.asarray(indices)
        if array.size == 0:
            array = array.astype(np.int64)
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise TypeError(f"Subset: expected a 1-D sequence of integer indices, got dtype "
                            f"{array.dtype} and shape {array.shape}")
        count = len(dataset)
        if array.size and not (-count <= array.min() and array.max() < count):
            bad = array[(array < -count) | (array >= count)][0]
            raise IndexError(f"Subset: index {bad} is out of range for a data set of {count} "
                             f"items")
        self.dataset = dataset
        self.indices = array.astype(np.int64) % max(count, 1)  # negative indices as Python's

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self.dataset[int(self.indices[i])] for i in index]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def get_batch(self):
        """The underlying data set's batch reader through these indices, or None when it has
        none (the DataLoader then reads the items one by one)."""
        read = getattr(self.dataset, "get_batch", None)
        if not callable(read):
            return None
        return lambda indices: read(self.indices[np.asarray(indices)])

    @property
    def collated_batch(self):
        """The underlying data set's collated-batch reader through these indices, or None."""
        read = getattr(self.dataset, "collated_batch", None)
        if not callable(read):
            return None
        return lambda indices: read(self.indices[np.asarray(indices)])

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} of its items)"


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split `dataset` into non-overlapping Subsets of random items, as torch.utils.data's.

    Args:
        dataset: anything with `len` and indexing.
        lengths: the sizes, either all counts (ints summing to len(dataset)) or all fractions
            (floats in [0, 1] summing to 1; each gets floor(fraction * len) items and the
            remainder is dealt out one by one from the first split, as PyTorch does). Unlike
            PyTorch, ints are always counts: `[1, 0]` is not read as fractions.
        generator: a numpy.random.Generator, an int seed or None (minidl's default generator,
            so `minidl.manual_seed` makes the split reproducible).

        train, val = random_split(MNIST(transform=transforms.ToFloat()), [0.9, 0.1],
                                  generator=0)
    """
    count = len(dataset)
    sizes = _split_sizes(lengths, count)
    order = shuffling_generator(generator, "random_split").permutation(count)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]


def _split_sizes(lengths, count: int) -> list[int]:
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise TypeError(f"random_split: expected lengths as a sequence of counts or fractions, "
                        f"got {lengths!r}")
    lengths = list(lengths)
    numeric = all(isinstance(n, numbers.Real) and not isinstance(n, bool) for n in lengths)
    if not lengths or not numeric:
        raise TypeError(f"random_split: expected lengths as a non-empty sequence of counts "
                        f"(ints) or fractions (floats), got {lengths!r}")
    if all(isinstance(n, numbers.Integral) for n in lengths):
        if any(n < 0 for n in lengths) or sum(lengths) != count:
            raise ValueError(f"random_split: expected non-negative counts summing to the "
                             f"length of the data set ({count}), got {lengths} (sum "
                             f"{sum(lengths)})")
        return [int(n) for n in lengths]
    if any(isinstance(n, numbers.Integral) for n in lengths):
        raise TypeError(f"random_split: expected lengths to be all counts (ints) or all "
                        f"fractions (floats), got a mix: {lengths}")
    if any(not 0 <= n <= 1 for n in lengths) or not math.isclose(sum(lengths), 1):
        raise ValueError(f"random_split: expected fractions in [0, 1] summing to 1, got "
                         f"{lengths} (sum {sum(lengths)})")
    sizes = [math.floor(count * fraction) for fraction in lengths]
    for position in range(count - sum(sizes)):
        sizes[position % len(sizes)] += 1
    return sizes
