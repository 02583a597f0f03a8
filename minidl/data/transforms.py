"""Image transforms: callables on NumPy arrays, for a data set's `transform=`.

Every transform here takes one image (C, H, W) or a batch of images (N, C, H, W), and is
marked `supports_batch = True` so the DataLoader can run it once per batch instead of once per
image (see `ArrayDataset.get_batch`). On a batch, a random transform draws a separate random
choice for each image.

Random transforms draw from minidl's generator (`minidl.random.default_generator()`), so
`minidl.manual_seed(s)` makes the augmentations of a run reproducible.

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToFloat(),                                      # uint8 -> float32 in [0, 1]
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ])
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import random as _random


def _check_images(name: str, images) -> np.ndarray:
    """Check that `images` is one image (C, H, W) or a batch (N, C, H, W)."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array (C, H, W) or (N, C, H, W), got "
                        f"{type(images).__name__}")
    if images.ndim not in (3, 4):
        raise ValueError(f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got "
                         f"shape {images.shape}")
    return images


def _check_float(name: str, images: np.ndarray) -> None:
    if images.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected float32 (or float64) images, got {images.dtype}; "
                        f"put ToFloat() before it")


class Transform:
    """Base class: a callable on an image (C, H, W) or a batch (N, C, H, W)."""

    supports_batch = True

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({arguments})"


class Compose(Transform):
    """Apply `transforms` in order. Runs on batches if every one of them does."""

    def __init__(self, transforms):
        transforms = list(transforms)
        for transform in transforms:
            if not callable(transform):
                raise TypeError(f"Compose: expected callables, got {transform!r}")
        self.transforms = transforms

    @property
    def supports_batch(self) -> bool:
        return all(getattr(transform, "supports_batch", False) for transform in self.transforms)

    def __call__(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images


class ToFloat(Transform):
    """uint8 images in 0..255 -> float32 in [0, 1] (x / 255), like torchvision's ToTensor."""

    def __call__(self, images):
        images = _check_images("ToFloat", images)
        if images.dtype != np.uint8:
            raise TypeError(f"ToFloat: expected uint8 images (0..255), got {images.dtype}")
        return images.astype(np.float32) / np.float32(255)


class Normalize(Transform):
    """(x - mean[c]) / std[c] for each channel c; float32 stays float32.

    `mean` and `std` hold one value per channel (or one number for all channels), e.g.
    `Normalize((0.1307,), (0.3081,))` for MNIST after ToFloat.
    """

    def __init__(self, mean, std):
        self.mean = self._values("mean", mean)
        self.std = self._values("std", std)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {std!r}")

    @staticmethod
    def _values(what: str, values) -> np.ndarray:
        array = np.atleast_1d(np.asarray(values, dtype=object))
        if (array.ndim != 1 or len(array) == 0 or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
                for v in array)):
            raise ValueError(f"Normalize: {what} must be a finite number or a sequence of them "
                             f"(one per channel), got {values!r}")
        return array.astype(np.float64)

    def __call__(self, images):
        images = _check_images("Normalize", images)
        _check_float("Normalize", images)
        channels = images.shape[-3]
        for what, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"Normalize: {what} has {len(values)} values but the images "
                                 f"have {channels} channels (shape {images.shape})")
        shape = (-1, 1, 1)  # broadcasts over (C, H, W) and (N, C, H, W) alike
        mean = self.mean.astype(images.dtype).reshape(shape)
        std = self.std.astype(images.dtype).reshape(shape)
        return (images - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={tuple(self.mean)}, std={tuple(self.std)})"


class RandomCrop(Transform):
    """Pad each side with `padding` zeros, then cut a random `size` window out of the image.

    `size` is an int (a square) or (height, width). On a batch, every image gets its own window.
    """

    def __init__(self, size, padding: int = 0):
        sizes = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        if (len(sizes) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                       and s > 0 for s in sizes)):
            raise ValueError(f"RandomCrop: size must be a positive int or (height, width), got "
                             f"{size!r}")
        if not isinstance(padding, numbers.Integral) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int, got {padding!r}")
        self.size, self.padding = (int(sizes[0]), int(sizes[1])), int(padding)

    def __call__(self, images):
        images = _check_images("RandomCrop", images)
        batch = images if images.ndim == 4 else images[None]
        p, (height, width) = self.padding, self.size
        padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros
        spare_rows, spare_columns = padded.shape[2] - height, padded.shape[3] - width
        if spare_rows < 0 or spare_columns < 0:
            raise ValueError(f"RandomCrop: cannot cut {height}x{width} out of images of shape "
                             f"{images.shape} padded by {p}")
        generator = _random.default_generator()
        tops = generator.integers(0, spare_rows + 1, size=len(batch))
        lefts = generator.integers(0, spare_columns + 1, size=len(batch))
        # windows[n, c, i, j] is the (height, width) window of image n, channel c at (i, j)
        windows = sliding_window_view(padded, (height, width), axis=(2, 3))
        crops = windows[np.arange(len(batch)), :, tops, lefts]  # (N, C, height, width), a copy
        return crops if images.ndim == 4 else crops[0]


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability `p`."""

    def __init__(self, p: float = 0.5):
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got "
                             f"{p!r}")
        self.p = float(p)

    def __call__(self, images):
        images = _check_images("RandomHorizontalFlip", images)
        batch = images if images.ndim == 4 else images[None]
        flip = _random.default_generator().random(len(batch)) < self.p
        result = batch.copy()
        result[flip] = batch[flip, :, :, ::-1]
        return result if images.ndim == 4 else result[0]


class Flatten(Transform):
    """An image (C, H, W) -> a vector (C*H*W,); a batch (N, C, H, W) -> (N, C*H*W)."""

    def __call__(self, images):
        images = _check_images("Flatten", images)
        # the length is given, not -1: NumPy cannot infer it for an empty batch
        if images.ndim == 4:
            return images.reshape(len(images), math.prod(images.shape[1:]))
        return images.reshape(images.size)
