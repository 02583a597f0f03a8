"""Leaves for the ops' gradient checks (float64, as tests/gradcheck.py requires)."""
import numpy as np

import minidl


def leaf(rng, *shape, low=None):
    """A float64 leaf of `shape` that requires grad; low: values drawn from [low, low + 2]."""
    values = rng.standard_normal(shape) if low is None else rng.uniform(low, low + 2, shape)
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def f32(*values):
    return minidl.tensor(np.array(values, dtype=np.float32))
