"""Pooling kernels: the Numba kernels equal the NumPy references (max pooling to the bit, the
averages to rounding); the references are checked against direct loops over the definition,
hand-computed cases and float64 central finite differences; ties and NaN follow PyTorch's CPU
kernel (checked against PyTorch itself when it is installed)."""
import inspect
import math

import numpy as np
import pytest

from minidl.kernels import pooling as pool
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS

DTYPES = [np.float32, np.float64]
# rtol, plus an atol for sums of unit-scale values that cancel to near 0
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}
# (kernel_size, stride, padding), each (height, width)
WINDOWS = {
    "k2s2": ((2, 2), (2, 2), (0, 0)),
    "k3s1p1": ((3, 3), (1, 1), (1, 1)),
    "k3s2p1": ((3, 3), (2, 2), (1, 1)),
    "k2x3s1x2p1x0": ((2, 3), (1, 2), (1, 0)),
    "k3x2s2x3p1x1": ((3, 2), (2, 3), (1, 1)),
}
SHAPES = [(2, 3, 9, 11), (1, 2, 5, 4)]  # odd and even sizes, all serial
LARGE = (2, 8, 48, 48)  # above PARALLEL_MIN_ELEMENTS: the prange drivers
# (input (H, W), output_size): global, divisible, non-divisible (7 -> 3), identity, upsampling
ADAPTIVE_CASES = {
    "global": ((7, 9), (1, 1)),
    "divisible": ((6, 9), (3, 3)),
    "non_divisible": ((7, 9), (3, 4)),
    "identity": ((5, 4), (5, 4)),
    "upsampling": ((7, 3), (10, 4)),
}


def random_array(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_close(actual, expected, dtype):
    assert actual.dtype == expected.dtype == dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, **TOLERANCE[dtype])


def kernels(op):
    """(forward, backward) of `op`, as (reference, numba) pairs."""
    return pool.KERNELS[f"{op}_forward"], pool.KERNELS[f"{op}_backward"]


def run_all_ops(implementation, x, window, adaptive_size, grad_seed=1):
    """Forward and backward outputs of every op (reference: 0, numba: 1) on input x."""
    kernel_size, stride, padding = window
    max_forward, max_backward = (k[implementation] for k in kernels("max_pool2d"))
    avg_forward, avg_backward = (k[implementation] for k in kernels("avg_pool2d"))
    adaptive_forward, adaptive_backward = (k[implementation]
                                           for k in kernels("adaptive_avg_pool2d"))
    y, indices = max_forward(x, kernel_size, stride, padding)
    grad_out = random_array(y.shape, x.dtype, grad_seed)
    results = {"max": y, "max indices": indices,
               "max backward": max_backward(grad_out, indices, x.shape)}
    for include in (True, False):
        results[f"avg {include}"] = avg_forward(x, kernel_size, stride, padding, include)
        results[f"avg backward {include}"] = avg_backward(grad_out, x.shape, kernel_size,
                                                          stride, padding, include)
    results["adaptive"] = adaptive_forward(x, adaptive_size)
    grad_adaptive = random_array(x.shape[:2] + adaptive_size, x.dtype, grad_seed)
    results["adaptive backward"] = adaptive_backward(grad_adaptive, x.shape)
    return results


# --- The kernel table --------------------------------------------------------------------------

def test_kernel_table_pairs_reference_and_numba_with_the_same_signature():
    assert set(pool.KERNELS) == {f"{op}_{direction}"
                                 for op in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")
                                 for direction in ("forward", "backward")}
    for name, (reference, numba_kernel) in pool.KERNELS.items():
        assert reference.__name__ == f"{name}_reference"
        assert numba_kernel.__name__ == f"{name}_numba"
        assert inspect.signature(reference) == inspect.signature(numba_kernel)


def test_registered_in_the_kernel_package():
    from minidl import kernels as package
    assert package.lookup("max_pool2d_forward", "numba") is pool.max_pool2d_forward_numba
    assert package.lookup("adaptive_avg_pool2d_backward", "numpy") is (
        pool.adaptive_avg_pool2d_backward_reference)


# --- Numba == reference ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_max_pool_numba_equals_reference(window, dtype):
    for shape in SHAPES:
        x = random_array(shape, dtype)
        x[:, :, ::3, 1::2] = 0.5  # plateaus: equal values inside windows
        (reference, numba_kernel), (reference_backward, numba_backward) = kernels("max_pool2d")
        y, indices = numba_kernel(x, *window)
        want_y, want_indices = reference(x, *window)
        assert y.dtype == dtype and indices.dtype == want_indices.dtype == np.int64
        np.testing.assert_array_equal(y, want_y)  # no arithmetic: the very same values
        np.testing.assert_array_equal(indices, want_indices)
        grad_out = random_array(y.shape, dtype, seed=1)
        assert_close(numba_backward(grad_out, indices, shape),
                     reference_backward(grad_out, indices, shape), dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_avg_pool_numba_equals_reference(window, dtype, count_include_pad):
    (reference, numba_kernel), (reference_backward, numba_backward) = kernels("avg_pool2d")
    for shape in SHAPES:
        x = random_array(shape, dtype)
        y = numba_kernel(x, *window, count_include_pad)
        assert_close(y, reference(x, *window, count_include_pad), dtype)
        grad_out = random_array(y.shape, dtype, seed=1)
        assert_close(numba_backward(grad_out, shape, *window, count_include_pad),
                     reference_backward(grad_out, shape, *window, count_include_pad), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES.values(), ids=ADAPTIVE_CASES.keys())
def test_adaptive_avg_pool_numba_equals_reference(case, dtype):
    (height, width), output_size = case
    (reference, numba_kernel), (reference_backward, numba_backward) = kernels(
        "adaptive_avg_pool2d")
    shape = (2, 3, height, width)
    x = random_array(shape, dtype)
    y = numba_kernel(x, output_size)
    assert y.shape == shape[:2] + output_size
    assert_close(y, reference(x, output_size), dtype)
    grad_out = random_array(y.shape, dtype, seed=1)
    assert_close(numba_backward(grad_out, shape), reference_backward(grad_out, shape), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_inputs_numba_equals_reference(dtype):
    """Above PARALLEL_MIN_ELEMENTS (the prange drivers), every op."""
    assert math.prod(LARGE) >= PARALLEL_MIN_ELEMENTS
    x = random_array(LARGE, dtype)
    got = run_all_ops(1, x, WINDOWS["k3s2p1"], (3, 5))
    want = run_all_ops(0, x, WINDOWS["k3s2p1"], (3, 5))
    for name in want:
        if name.startswith("max") and "backward" not in name:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        else:
            assert_close(got[name], want[name], dtype)


def test_size_picks_the_serial_or_parallel_driver(monkeypatch):
    calls = []
    for name in ("_max_pool_forward", "_max_pool_backward", "_avg_pool_forward",
                 "_avg_pool_backward", "_adaptive_forward", "_adaptive_backward"):
        for variant in ("serial", "parallel"):
            monkeypatch.setattr(pool, f"{name}_{variant}",
                                lambda *args, variant=variant: calls.append(variant))
    window = WINDOWS["k2s2"]
    for shape, variant in (((1, 1, 4, 4), "serial"), (LARGE, "parallel")):
        calls.clear()
        x = np.zeros(shape, np.float32)
        y, indices = pool.max_pool2d_forward_numba(x, *window)
        pool.max_pool2d_backward_numba(y, indices, shape)
        pool.avg_pool2d_forward_numba(x, *window, True)
        pool.avg_pool2d_backward_numba(y, shape, *window, True)
        pool.adaptive_avg_pool2d_forward_numba(x, (1, 1))
        pool.adaptive_avg_pool2d_backward_numba(y[:, :, :1, :1], shape)
        assert calls == [variant] * 6


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_drivers_equal_serial_drivers(dtype, monkeypatch):
    """The prange drivers give the very same bits as the serial ones, whatever the size."""
    x = random_array(SHAPES[0], dtype)
    serial = run_all_ops(1, x, WINDOWS["k3s2p1"], (3, 4))
    monkeypatch.setattr(pool, "PARALLEL_MIN_ELEMENTS", 0)
    parallel = run_all_ops(1, x, WINDOWS["k3s2p1"], (3, 4))
    for name in serial:
        np.testing.assert_array_equal(parallel[name], serial[name], err_msg=name)


def test_non_contiguous_inputs():
    """Transposed and strided views give the same results as contiguous copies."""
    x = random_array((2, 3, 9, 11), np.float32)
    x_view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not x_view.flags.c_contiguous and np.array_equal(x_view, x)
    window = WINDOWS["k3s2p1"]

    def strided(array):  # a non-contiguous view with the same values
        view = np.repeat(array, 2, axis=3)[..., ::2]
        assert not view.flags.c_contiguous and np.array_equal(view, array)
        return view

    y, indices = pool.max_pool2d_forward_numba(x_view, *window)
    want_y, want_indices = pool.max_pool2d_forward_reference(x, *window)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(indices, want_indices)
    assert y.flags.c_contiguous and y.dtype == np.float32
    grad_out = random_array(y.shape, np.float32, seed=1)
    np.testing.assert_allclose(
        pool.max_pool2d_backward_numba(strided(grad_out), strided(indices), x.shape),
        pool.max_pool2d_backward_reference(grad_out, indices, x.shape), **TOLERANCE[np.float32])
    for include in (True, False):
        assert_close(pool.avg_pool2d_forward_numba(x_view, *window, include),
                     pool.avg_pool2d_forward_reference(x, *window, include), np.float32)
        assert_close(pool.avg_pool2d_backward_numba(strided(grad_out), x.shape, *window, include),
                     pool.avg_pool2d_backward_reference(grad_out, x.shape, *window, include),
                     np.float32)
    assert_close(pool.adaptive_avg_pool2d_forward_numba(x_view, (3, 4)),
                 pool.adaptive_avg_pool2d_forward_reference(x, (3, 4)), np.float32)
    grad_adaptive = random_array((2, 3, 3, 4), np.float32, seed=2)
    assert_close(pool.adaptive_avg_pool2d_backward_numba(strided(grad_adaptive), x.shape),
                 pool.adaptive_avg_pool2d_backward_reference(grad_adaptive, x.shape),
                 np.float32)


# --- Max pooling: ties and NaN as in PyTorch's CPU kernel --------------------------------------

IMPLEMENTATIONS = dict(argnames="implementation", argvalues=[0, 1], ids=["reference", "numba"])


def first_real_element(output_shape, width, window):
    """h*W + w of the first non-padding element of every window: (Ho, Wo)."""
    _, (sh, sw), (ph, pw) = window
    top = np.maximum(np.arange(output_shape[0]) * sh - ph, 0)
    left = np.maximum(np.arange(output_shape[1]) * sw - pw, 0)
    return top[:, None] * width + left[None, :]


@pytest.mark.parametrize(**IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ties_keep_the_first_maximum(dtype, implementation):
    forward = pool.KERNELS["max_pool2d_forward"][implementation]
    for value in (2.5, -np.inf):  # a window of -inf records its first element too (PyTorch)
        for window in WINDOWS.values():
            x = np.full((2, 2, 7, 8), value, dtype=dtype)
            y, indices = forward(x, *window)
            assert np.all(y == value)
            expected = first_real_element(y.shape[2:], 8, window)
            np.testing.assert_array_equal(indices, np.broadcast_to(expected, y.shape))
    # ties among the larger values only: [[1, 3], [3, 2]] keeps the 3 at flat index 1
    x = np.array([[[[1, 3], [3, 2]]]], dtype=dtype)
    y, indices = forward(x, (2, 2), (2, 2), (0, 0))
    assert y.item() == 3 and indices.item() == 1


@pytest.mark.parametrize(**IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan_wins_and_the_last_nan_is_recorded(dtype, implementation):
    forward = pool.KERNELS["max_pool2d_forward"][implementation]
    nan, inf = np.nan, np.inf
    # PyTorch 2.13: values (nan, nan), indices (4, 4): a NaN replaces even another NaN
    x = np.array([[[[nan, nan, 1], [inf, nan, 3]]]], dtype=dtype)
    y, indices = forward(x, (2, 2), (1, 1), (0, 0))
    assert np.isnan(y).all()
    np.testing.assert_array_equal(indices, [[[[4, 4]]]])
    # +inf is an ordinary maximum; -inf loses to anything but itself
    x = np.array([[[[-inf, 1, -inf], [inf, -2, -inf]]]], dtype=dtype)
    y, indices = forward(x, (2, 2), (1, 1), (0, 0))
    np.testing.assert_array_equal(y, [[[[inf, 1]]]])
    np.testing.assert_array_equal(indices, [[[[3, 1]]]])
    # one NaN in a random plane: exactly the windows that contain it become NaN, pointing at it
    x = random_array((1, 2, 7, 8), dtype)
    x[0, 1, 3, 4] = nan
    y, indices = forward(x, (3, 3), (2, 2), (1, 1))
    clean_y, clean_indices = forward(np.nan_to_num(x, nan=-10.0), (3, 3), (2, 2), (1, 1))
    covers = np.zeros(y.shape, dtype=bool)
    covers[0, 1, 1:3, 2] = True  # rows 1..3 and 3..5 hold row 3; columns 3..5 hold column 4
    np.testing.assert_array_equal(np.isnan(y), covers)
    np.testing.assert_array_equal(indices[covers], 3 * 8 + 4)
    np.testing.assert_array_equal(y[~covers], clean_y[~covers])
    np.testing.assert_array_equal(indices[~covers], clean_indices[~covers])


@pytest.mark.parametrize(**IMPLEMENTATIONS)
def test_max_pool_backward_adds_overlapping_windows(implementation):
    forward, backward = (k[implementation] for k in kernels("max_pool2d"))
    window = WINDOWS["k3s1p1"]
    # increasing values: each window's maximum is its bottom-right real element, so the element
    # (h, w) collects count[h] * count[w] windows with count = [0, 1, 1, 2]
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    y, indices = forward(x, *window)
    grad = backward(np.ones_like(y), indices, x.shape)
    count = np.array([0, 1, 1, 2])
    np.testing.assert_array_equal(grad[0, 0], np.outer(count, count))
    # all equal: each window picks its first real element; count = [2, 1, 0]
    x = np.ones((1, 1, 3, 3))
    y, indices = forward(x, *window)
    grad = backward(np.ones_like(y), indices, x.shape)
    count = np.array([2, 1, 0])
    np.testing.assert_array_equal(grad[0, 0], np.outer(count, count))
    # the sum of the gradient is kept, plane by plane
    x = random_array((2, 3, 6, 7), np.float64)
    y, indices = forward(x, *window)
    grad_out = random_array(y.shape, np.float64, seed=1)
    np.testing.assert_allclose(backward(grad_out, indices, x.shape).sum(axis=(2, 3)),
                               grad_out.sum(axis=(2, 3)), rtol=1e-12)


# --- Average pooling: count_include_pad, NaN and Inf ------------------------------------------

@pytest.mark.parametrize(**IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_count_include_pad(dtype, implementation):
    forward, backward = (k[implementation] for k in kernels("avg_pool2d"))
    # 3x3 windows with padding 1 over a 2x2 input: every window holds the 4 real elements
    x = np.ones((1, 1, 2, 2), dtype=dtype)
    window = WINDOWS["k3s1p1"]
    np.testing.assert_allclose(forward(x, *window, True), np.full(x.shape, 4 / 9), rtol=1e-6)
    np.testing.assert_array_equal(forward(x, *window, False), x)
    np.testing.assert_allclose(backward(x, x.shape, *window, True), np.full(x.shape, 4 / 9),
                               rtol=1e-6)
    np.testing.assert_array_equal(backward(x, x.shape, *window, False), x)
    # 3x3 input 0..8, kernel 3, stride 2, padding 1: window sums 8, 12, 20, 24 over 4 elements
    x = np.arange(9, dtype=dtype).reshape(1, 1, 3, 3)
    window = WINDOWS["k3s2p1"]
    sums = np.array([[8, 12], [20, 24]])
    np.testing.assert_allclose(forward(x, *window, True)[0, 0], sums / 9, rtol=1e-6)
    np.testing.assert_allclose(forward(x, *window, False)[0, 0], sums / 4, rtol=1e-6)
    grad_out = np.ones((1, 1, 2, 2), dtype=dtype)
    overlap = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]])  # windows covering each element
    np.testing.assert_allclose(backward(grad_out, x.shape, *window, True)[0, 0], overlap / 9,
                               rtol=1e-6)
    np.testing.assert_allclose(backward(grad_out, x.shape, *window, False)[0, 0], overlap / 4,
                               rtol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
@pytest.mark.parametrize(**IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pools_propagate_nan_and_inf(dtype, implementation):
    """An output is NaN iff its window holds a NaN (or both infinities), +-inf iff it holds
    one infinity and no NaN; gradients spread NaN to every element of the window."""
    x = random_array((1, 2, 7, 9), dtype)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 6] = np.inf
    x[0, 1, 1, 1] = np.inf
    x[0, 1, 1, 2] = -np.inf

    def covered(values, pooling):
        """Which outputs' windows hold an element where `values` is True (float64 pooling)."""
        return pooling(values.astype(np.float64)) > 0

    avg_forward, avg_backward = (k[implementation] for k in kernels("avg_pool2d"))
    adaptive_forward, adaptive_backward = (k[implementation]
                                           for k in kernels("adaptive_avg_pool2d"))
    window = WINDOWS["k3s2p1"]
    poolings = {
        "avg": lambda a: avg_forward(a, *window, False),
        "adaptive": lambda a: adaptive_forward(a, (3, 4)),
    }
    for name, pooling in poolings.items():
        y = pooling(x)
        # NaN in the window, or +inf and -inf together (inf - inf = NaN)
        nan_covered = covered(np.isnan(x), pooling) | (covered(x == np.inf, pooling)
                                                       & covered(x == -np.inf, pooling))
        np.testing.assert_array_equal(np.isnan(y), nan_covered, err_msg=name)
        np.testing.assert_array_equal(np.isposinf(y), covered(x == np.inf, pooling)
                                      & ~nan_covered, err_msg=name)
        assert np.isnan(y).any() and np.isposinf(y).any()
    # a NaN gradient reaches exactly the elements of its window
    grad_out = np.ones((1, 2, 4, 5), dtype=dtype)
    grad_out[0, 0, 1, 2] = np.nan  # window rows 1..3, columns 3..5
    grad = avg_backward(grad_out, x.shape, *window, True)
    expected = np.zeros(x.shape, dtype=bool)
    expected[0, 0, 1:4, 3:6] = True
    np.testing.assert_array_equal(np.isnan(grad), expected)
    grad_out = np.ones((1, 2, 3, 4), dtype=dtype)
    grad_out[0, 1, 2, 0] = np.nan  # bin rows 4..6 (of 7), columns 0..2 (of 9)
    grad = adaptive_backward(grad_out, x.shape)
    expected = np.zeros(x.shape, dtype=bool)
    expected[0, 1, 4:7, 0:3] = True
    np.testing.assert_array_equal(np.isnan(grad), expected)


# --- The references against direct loops over the definitions ----------------------------------

def direct_windows(x, window):
    """For every (n, c, oh, ow): the list of ((h, w), value) of the real window elements, in
    row-major order, and the window size clipped to the padded input."""
    (kh, kw), (sh, sw), (ph, pw) = window
    _, _, height, width = x.shape
    output_height = (height + 2 * ph - kh) // sh + 1
    output_width = (width + 2 * pw - kw) // sw + 1
    for oh in range(output_height):
        for ow in range(output_width):
            rows = [oh * sh - ph + i for i in range(kh)]
            cols = [ow * sw - pw + j for j in range(kw)]
            padded_size = (sum(r < height + ph for r in rows)
                           * sum(c < width + pw for c in cols))
            positions = [(r, c) for r in rows for c in cols if 0 <= r < height and 0 <= c < width]
            yield oh, ow, positions, padded_size


def direct_max_pool(x, window):
    y, indices = [], []
    for oh, ow, positions, _ in direct_windows(x, window):
        values = x[:, :, [p[0] for p in positions], [p[1] for p in positions]]  # (N, C, k)
        width = x.shape[3]
        flat = np.array([r * width + c for r, c in positions])
        # first maximum; if NaNs are present, the last NaN
        nan_last = len(positions) - 1 - np.argmax(np.isnan(values)[..., ::-1], axis=-1)
        choice = np.where(np.isnan(values).any(-1), nan_last, np.argmax(values, axis=-1))
        y.append(np.take_along_axis(values, choice[..., None], -1)[..., 0])
        indices.append(flat[choice])
    return y, indices


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_reference_forwards_match_direct_loops(window):
    x = random_array((2, 3, 7, 8), np.float64)
    x[0, 0, 2:5, 2:5] = 1.5  # ties
    x[1, 2, 4, 4] = x[1, 2, 3, 5] = np.nan
    y, indices = pool.max_pool2d_forward_reference(x, *window)
    direct_y, direct_indices = direct_max_pool(x, window)
    np.testing.assert_array_equal(y.reshape(2, 3, -1), np.stack(direct_y, -1))
    np.testing.assert_array_equal(indices.reshape(2, 3, -1), np.stack(direct_indices, -1))

    x = random_array((2, 3, 7, 8), np.float64)
    for include in (True, False):
        y = pool.avg_pool2d_forward_reference(x, *window, include)
        direct = [sum(x[:, :, r, c] for r, c in positions) / (padded if include else len(positions))
                  for _, _, positions, padded in direct_windows(x, window)]
        np.testing.assert_allclose(y.reshape(2, 3, -1), np.stack(direct, -1), rtol=1e-13)
        # floor mode: the count_include_pad divisor is always kh*kw
        assert all(padded == math.prod(window[0]) for *_, padded in direct_windows(x, window))


@pytest.mark.parametrize("case", ADAPTIVE_CASES.values(), ids=ADAPTIVE_CASES.keys())
def test_reference_adaptive_matches_direct_loops(case):
    (height, width), (output_height, output_width) = case
    x = random_array((2, 3, height, width), np.float64)
    y = pool.adaptive_avg_pool2d_forward_reference(x, (output_height, output_width))
    for oh in range(output_height):
        h0 = math.floor(oh * height / output_height)
        h1 = math.ceil((oh + 1) * height / output_height)
        for ow in range(output_width):
            w0 = math.floor(ow * width / output_width)
            w1 = math.ceil((ow + 1) * width / output_width)
            np.testing.assert_allclose(y[:, :, oh, ow], x[:, :, h0:h1, w0:w1].mean(axis=(2, 3)),
                                       rtol=1e-13)


@pytest.mark.parametrize(**IMPLEMENTATIONS)
def test_adaptive_special_cases(implementation):
    forward = pool.KERNELS["adaptive_avg_pool2d_forward"][implementation]
    x = random_array((2, 3, 6, 9), np.float64)
    np.testing.assert_allclose(forward(x, (1, 1)), x.mean(axis=(2, 3), keepdims=True),
                               rtol=1e-13)
    np.testing.assert_array_equal(forward(x, (6, 9)), x)
    # divisible sizes: avg pooling with kernel = stride = H/Ho, W/Wo
    np.testing.assert_allclose(forward(x, (3, 3)),
                               pool.avg_pool2d_forward_reference(x, (2, 3), (2, 3), (0, 0), True),
                               rtol=1e-13)


# --- The backward references against float64 central finite differences -----------------------

def numerical_gradient(forward, x, grad_out, step=1e-6):
    """d sum(grad_out * forward(x)) / dx, element by element (tiny inputs only)."""
    gradient = np.empty_like(x)
    for position in np.ndindex(x.shape):
        original = x[position]
        x[position] = original + step
        upper = np.sum(grad_out * forward(x))
        x[position] = original - step
        lower = np.sum(grad_out * forward(x))
        x[position] = original
        gradient[position] = (upper - lower) / (2 * step)
    return gradient


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_backward_references_match_finite_differences(window):
    rng = np.random.default_rng(4)
    shape = (1, 2, 5, 6)
    # distinct values 0.1 apart: no tie within a step, so max pooling is differentiable here
    x = 0.1 * rng.permutation(math.prod(shape)).reshape(shape).astype(np.float64)
    y, indices = pool.max_pool2d_forward_reference(x, *window)
    grad_out = rng.standard_normal(y.shape)
    numeric = numerical_gradient(lambda v: pool.max_pool2d_forward_reference(v, *window)[0],
                                 x, grad_out)
    np.testing.assert_allclose(pool.max_pool2d_backward_reference(grad_out, indices, shape),
                               numeric, rtol=1e-6, atol=1e-8)

    x = rng.standard_normal(shape)
    for include in (True, False):
        numeric = numerical_gradient(
            lambda v: pool.avg_pool2d_forward_reference(v, *window, include), x, grad_out)
        np.testing.assert_allclose(
            pool.avg_pool2d_backward_reference(grad_out, shape, *window, include),
            numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", ADAPTIVE_CASES.values(), ids=ADAPTIVE_CASES.keys())
def test_adaptive_backward_reference_matches_finite_differences(case):
    (height, width), output_size = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, height, width))
    grad_out = rng.standard_normal((1, 2) + output_size)
    numeric = numerical_gradient(
        lambda v: pool.adaptive_avg_pool2d_forward_reference(v, output_size), x, grad_out)
    np.testing.assert_allclose(pool.adaptive_avg_pool2d_backward_reference(grad_out, x.shape),
                               numeric, rtol=1e-6, atol=1e-8)


# --- PyTorch, when installed -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_matches_pytorch(dtype):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x = random_array((2, 3, 9, 11), dtype)
    x[:, :, ::3, 1::2] = 0.5  # ties
    x[1, 1, 4, 4] = x[1, 1, 4, 5] = np.nan  # two NaNs in some windows
    tolerance = TOLERANCE[dtype]
    for kernel_size, stride, padding in WINDOWS.values():
        tx = torch.tensor(x, requires_grad=True)
        ty, t_indices = functional.max_pool2d(tx, kernel_size, stride, padding,
                                              return_indices=True)
        grad_out = random_array(tuple(ty.shape), dtype, seed=1)
        ty.backward(torch.tensor(grad_out))
        y, indices = pool.max_pool2d_forward_numba(x, kernel_size, stride, padding)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(indices, t_indices.numpy())
        np.testing.assert_allclose(pool.max_pool2d_backward_numba(grad_out, indices, x.shape),
                                   tx.grad.numpy(), **tolerance)
        for include in (True, False):
            tx = torch.tensor(x, requires_grad=True)
            ty = functional.avg_pool2d(tx, kernel_size, stride, padding,
                                       count_include_pad=include)
            ty.backward(torch.tensor(grad_out))
            np.testing.assert_allclose(
                pool.avg_pool2d_forward_numba(x, kernel_size, stride, padding, include),
                ty.detach().numpy(), **tolerance)
            np.testing.assert_allclose(
                pool.avg_pool2d_backward_numba(grad_out, x.shape, kernel_size, stride, padding,
                                               include), tx.grad.numpy(), **tolerance)
    for output_size in [case[1] for case in ADAPTIVE_CASES.values()]:
        tx = torch.tensor(x, requires_grad=True)
        ty = functional.adaptive_avg_pool2d(tx, output_size)
        grad_out = random_array(tuple(ty.shape), dtype, seed=2)
        ty.backward(torch.tensor(grad_out))
        np.testing.assert_allclose(pool.adaptive_avg_pool2d_forward_numba(x, output_size),
                                   ty.detach().numpy(), **tolerance)
        np.testing.assert_allclose(pool.adaptive_avg_pool2d_backward_numba(grad_out, x.shape),
                                   tx.grad.numpy(), **tolerance)
