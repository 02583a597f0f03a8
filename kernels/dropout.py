"""Inverted dropout (Srivastava et al. 2014; CS231n's "inverted" form).

Training: y = x * mask / (1 - p), mask_i ~ Bernoulli(1 - p), so that E[y] = x and evaluation
needs no rescaling. The mask is drawn by the caller from minidl's seeded generator (so
`minidl.manual_seed` makes runs reproducible under either kernel set); the kernels apply it.
The backward pass is the same operation on the upstream gradient.
"""
from __future__ import annotations

import numpy as np

from numba import prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_parallel


def dropout_apply_reference(x: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
    """x * keep * scale. x: any shape; keep: bool, same shape; scale = 1 / (1 - p)."""
    return np.where(keep, x * x.dtype.type(scale), x * x.dtype.type(0))


@jit
def _dropout_apply_serial(x, keep, scale, out):
    for i in range(x.size):
        # x * 0 rather than 0 for dropped elements: NaN and Inf stay NaN, as in PyTorch
        out[i] = x[i] * scale if keep[i] else x[i] * 0
    return out


@jit_parallel
def _dropout_apply_parallel(x, keep, scale, out):
    # a separate function, not the serial one jitted twice: Numba's cache key ignores
    # parallel=True (see activations.py)
    for i in prange(x.size):
        out[i] = x[i] * scale if keep[i] else x[i] * 0
    return out


def dropout_apply_numba(x: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
    flat_x = np.ascontiguousarray(x).reshape(-1)
    flat_keep = np.ascontiguousarray(keep).reshape(-1)
    out = np.empty_like(flat_x)
    run = _dropout_apply_parallel if flat_x.size >= PARALLEL_MIN_ELEMENTS else _dropout_apply_serial
    return run(flat_x, flat_keep, x.dtype.type(scale), out).reshape(x.shape)


KERNELS = {"dropout_apply": (dropout_apply_reference, dropout_apply_numba)}
