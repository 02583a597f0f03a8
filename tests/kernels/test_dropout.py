"""dropout_apply: the Numba kernel equals the NumPy reference."""
import numpy as np
import pytest

from minidl.kernels import dropout
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4), (PARALLEL_MIN_ELEMENTS + 17,)])
def test_numba_equals_reference(rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    keep = rng.random(shape) > 0.3
    expected = dropout.dropout_apply_reference(x, keep, 1 / 0.7)
    result = dropout.dropout_apply_numba(x, keep, 1 / 0.7)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(expected, np.where(keep, x * dtype(1 / 0.7), 0))


def test_non_contiguous_input_and_nan(rng):
    x = rng.standard_normal((6, 8)).astype(np.float32).T
    x[0, 0] = np.nan
    keep = np.ones(x.shape, bool)
    keep[0, 0] = False
    result = dropout.dropout_apply_numba(x, keep, 2.0)
    np.testing.assert_array_equal(result, dropout.dropout_apply_reference(x, keep, 2.0))
    assert np.isnan(result[0, 0])  # a dropped NaN stays NaN, as in PyTorch
