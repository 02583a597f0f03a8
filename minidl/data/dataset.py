"""Dataset (the base class), TensorDataset and ArrayDataset (images and class labels held in
memory as two NumPy arrays).

The item convention of all minidl data sets: `dataset[i]` is `(image, label)` where `image` is
the dataset's transform applied to a channel-first uint8 array (C, H, W) - (1, 28, 28) for
MNIST, (3, 32, 32) for CIFAR-10 - and `label` a Python int. Without a transform the image stays
uint8 (0..255, not scaled); `transforms.ToFloat()` turns it into float32 in [0, 1], which is what
the layers and the DataLoader expect.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from .collate import default_collate


class Dataset:
    """The base class of map-style data sets, as torch.utils.data.Dataset: subclass it and
    implement `__getitem__(index)` (one item, e.g. an `(image, label)` tuple) and `__len__`.

        class Squares(Dataset):
            def __len__(self):
                return 100
            def __getitem__(self, index):
                return np.float32([index]), index * index
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")


class TensorDataset(Dataset):
    """Items are slices of tensors along their first dimension: `dataset[i]` is
    `(tensors[0][i], tensors[1][i], ...)`, as torch.utils.data.TensorDataset.

        dataset = TensorDataset(minidl.tensor(features), minidl.tensor(labels))

    Every argument must be a Tensor with at least one dimension, all of the same length.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        for position, tensor in enumerate(tensors):
            if not isinstance(tensor, Tensor):
                raise TypeError(f"TensorDataset: expected Tensors, got a "
                                f"{type(tensor).__name__} as argument {position}; wrap arrays "
                                f"with minidl.tensor(array)")
            if tensor.ndim == 0:
                raise ValueError(f"TensorDataset: argument {position} is a 0-d tensor; every "
                                 f"tensor needs a first dimension to index items by")
        lengths = [len(tensor) for tensor in tensors]
        if len(set(lengths)) > 1:
            raise ValueError(f"TensorDataset: expected tensors with the same first dimension, "
                             f"got sizes {lengths}")
        self.tensors = tensors

    def __getitem__(self, index) -> tuple:
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def collated_batch(self, indices) -> list[Tensor]:
        """The batch `default_collate` makes of the items at `indices` (a list of stacked
        Tensors, copies), made with one array index per tensor instead of a per-item loop
        (which costs about 15 us an item). A subclass that overrides __getitem__ is honoured,
        item by item."""
        if type(self).__getitem__ is not TensorDataset.__getitem__:
            return default_collate([self[int(index)] for index in indices])
        indices = np.asarray(indices)
        return [Tensor._wrap(tensor.data[indices]) for tensor in self.tensors]


class ArrayDataset(Dataset):
    """A data set over an image array and a label array, with an optional transform.

    Args:
        images: (N, H, W) single-channel images or (N, C, H, W) images, any numeric dtype
            (uint8 for the data sets minidl reads). Kept as `.data`, unchanged.
        labels: (N,) integer class labels. Kept as `.targets`, int64.
        transform: a callable applied to each image (C, H, W), e.g. `transforms.Compose(
            [transforms.ToFloat(), transforms.Normalize((0.1307,), (0.3081,))])`.

    `.data` and `.targets` give fast access to the whole set; `get_batch(indices)` is what
    the DataLoader uses to load a batch with one array slice instead of a per-item loop.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        name = type(self).__name__
        if not isinstance(images, np.ndarray) or images.ndim not in (3, 4):
            got = f"shape {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"{name}: expected images as an array (N, H, W) or (N, C, H, W), "
                             f"got {got}")
        if images.dtype.kind not in "uif":
            raise TypeError(f"{name}: expected numeric images, got dtype {images.dtype}")
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu" or labels.shape != (len(images),):
            raise ValueError(f"{name}: expected {len(images)} integer labels (shape "
                             f"({len(images)},)), got dtype {labels.dtype} and shape "
                             f"{labels.shape}")
        if transform is not None and not callable(transform):
            raise TypeError(f"{name}: transform must be callable or None, got {transform!r}")
        self.data = images
        self.targets = labels.astype(np.int64, copy=False)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index) -> tuple[np.ndarray, int]:
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(f"{type(self).__name__}: index must be an integer, got {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for "
                             f"{len(self)} items")
        image = self._images(np.array([index]))[0]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """The (images, labels) of the items at `indices`, stacked: labels int64 (B,).

        Equal to stacking `dataset[i]` for each index, but the images come from one array slice,
        and a transform that works on whole batches (`supports_batch`, true for every transform
        in `minidl.data.transforms` and their Compose) runs once on the (B, C, H, W) batch.
        Other transforms run item by item, and so does a subclass that overrides __getitem__.
        (Random transforms then draw their random numbers in another order, so the two ways
        give different, equally reproducible, augmentations.)
        """
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu" or indices.ndim != 1:
            raise TypeError(f"{type(self).__name__}.get_batch: expected a 1-D integer index "
                            f"array, got dtype {indices.dtype} and shape {indices.shape}")
        if type(self).__getitem__ is not ArrayDataset.__getitem__:
            # a subclass that changes what an item is: honour its __getitem__, item by item
            items = [self[int(index)] for index in indices]
            return (np.stack([np.asarray(image) for image, _ in items]),
                    np.array([label for _, label in items]))
        images = self._images(indices)
        if self.transform is not None:
            if getattr(self.transform, "supports_batch", False):
                images = self.transform(images)
            else:
                images = np.stack([np.asarray(self.transform(image)) for image in images])
        return images, self.targets[indices]

    def _images(self, indices: np.ndarray) -> np.ndarray:
        """Channel-first images (B, C, H, W) for an integer index array (a copy)."""
        images = self.data[indices]
        return images[:, None] if images.ndim == 3 else images

    def __repr__(self) -> str:
        shape = self.data.shape[1:] if self.data.ndim == 4 else (1, *self.data.shape[1:])
        return (f"{type(self).__name__}({len(self)} images of shape {shape}, "
                f"transform={self.transform!r})")
