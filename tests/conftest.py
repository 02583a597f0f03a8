import numpy as np
import pytest

import minidl


@pytest.fixture(params=["numba", "numpy"])
def kernel_set(request):
    """Run a test under each kernel set: the Numba kernels and their NumPy references."""
    with minidl.use_kernels(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
