"""Dimension arguments (dim=, start_dim=, ...): ints, negative from the end, checked."""
from __future__ import annotations

import numpy as np


def normalize_dim(dim: int, ndim: int, where: str) -> int:
    """`dim` in [0, ndim) (a 0-d tensor accepts 0 and -1, as in PyTorch)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, (bool, np.bool_)):
        raise TypeError(f"{where}: dim must be an int, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{where}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return int(dim) % max(ndim, 1)


def normalize_dims(dim, ndim: int, where: str):
    """None (every dimension), or a tuple of distinct dimensions in [0, ndim)."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    normalized = tuple(normalize_dim(d, ndim, where) for d in dims)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{where}: dim {dim} repeats a dimension")
    return tuple(d for d in normalized if d < ndim)  # a 0-d tensor has no axis to reduce
