"""The bandwidth probe: copy an array into a fresh output with all benchmark threads.

A memory-bound kernel that reads its input and writes an output of the same size can at best
match this copy; the report quotes such kernels as a multiple of it. The probe allocates its
output on every call, as the kernels do, so both pay the same allocator cost.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def _parallel_copy(source, destination, blocks):
    n = source.shape[0]
    for block in numba.prange(blocks):
        start, stop = block * n // blocks, (block + 1) * n // blocks
        destination[start:stop] = source[start:stop]


def copy_probe(x: np.ndarray) -> np.ndarray:
    """A copy of the C-contiguous array x in a new array, split over Numba's threads."""
    out = np.empty_like(x)
    _parallel_copy(x.reshape(-1), out.reshape(-1), numba.get_num_threads())
    return out


def copy_probe_of_size(elements: int, dtype=np.float32):
    """A probe function (no arguments) copying an array of `elements` values."""
    source = np.random.default_rng(0).standard_normal(elements).astype(dtype)
    return lambda: copy_probe(source)


def check_copy(source):
    def check(result):
        assert np.array_equal(result, source)
    return check
