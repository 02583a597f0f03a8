"""Zero-size inputs: which kernel runs, and the (N, C, L) or (N, features) views of them.

PyTorch gives empty results for an empty batch, a 0-length softmax dimension or 0 input
features (an empty sum is 0), and so does minidl. The Numba kernels are written for arrays
with elements, though: some allocate scratch for a whole image, or read a row's first element,
before their loops. So empty work never reaches them: it goes to the NumPy references, whose
products and sums over empty axes give the empty or zero results, or the caller returns the
empty result itself where a reference cannot (a maximum over an empty row).
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..backend import kernel


def kernel_for(name: str, empty: bool):
    """Kernel `name` of the current kernel set, or its NumPy reference when `empty`."""
    return kernels.REGISTRY[name]["numpy"] if empty else kernel(name)


def collapse_to(x: np.ndarray, leading: int) -> np.ndarray:
    """x viewed as its first `leading` axes followed by one axis holding all the others:
    (N, C, H, W) -> (N, C, H*W) for leading=2.

    NumPy cannot reshape an empty array with -1 (any length would fit), so the folded length
    is computed, not inferred.
    """
    return x.reshape(x.shape[:leading] + (math.prod(x.shape[leading:]),))


def rows_of(x: np.ndarray) -> np.ndarray:
    """x (*, features) as a 2-D (rows, features) array: the leading axes folded into one."""
    if x.ndim == 2:
        return x
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
