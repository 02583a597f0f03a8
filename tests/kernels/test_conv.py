"""Tests for minidl.kernels.conv: 2-D convolution and its gradients, reference and Numba.

The reference is checked against a direct nested-loop formula (forward) and float64 central
differences (backward); the Numba kernels are checked against the reference.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from minidl.kernels import conv

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def geometry(stride=1, padding=0, dilation=1, groups=1):
    """Keyword arguments of the kernels, with ints expanded to (int, int) pairs."""
    def pair(value):
        return value if isinstance(value, tuple) else (value, value)

    return dict(stride=pair(stride), padding=pair(padding), dilation=pair(dilation),
                groups=groups)


# (N, C, H, W), (O, kh, kw), geometry. Small, so that NUMBA_DISABLE_JIT=1 runs in seconds.
CASES = [
    pytest.param((2, 3, 7, 9), (5, 3, 3), geometry(padding=1), id="odd-3x3-pad1"),
    pytest.param((3, 4, 9, 8), (6, 3, 3), geometry(stride=2, padding=1), id="stride2"),
    pytest.param((2, 3, 8, 11), (4, 2, 5), geometry(stride=(2, 3), padding=(0, 2)),
                 id="rect-2x5-stride-2x3"),
    pytest.param((2, 3, 9, 9), (4, 3, 3), geometry(padding=2, dilation=2), id="dilation2"),
    pytest.param((2, 4, 6, 7), (6, 3, 1), geometry(padding=(1, 0), groups=2),
                 id="groups2-rect-3x1"),
    pytest.param((2, 5, 6, 6), (10, 3, 3), geometry(stride=(1, 2), padding=1, groups=5),
                 id="depthwise-x2"),
    pytest.param((3, 6, 5, 4), (7, 1, 1), geometry(), id="1x1"),
    pytest.param((2, 4, 7, 6), (4, 2, 3),
                 geometry(stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=2),
                 id="mixed-groups-stride-dilation"),
    pytest.param((1, 2, 4, 3), (3, 2, 2), geometry(stride=(3, 1), padding=(3, 2), dilation=(1, 2)),
                 id="padding-wider-than-kernel-one-image"),
    pytest.param((2, 3, 3, 4), (2, 3, 4), geometry(), id="kernel-covers-input"),
    pytest.param((0, 2, 5, 5), (3, 3, 3), geometry(padding=1), id="empty-batch"),
]


@pytest.fixture(params=["serial", "parallel"])
def path(request, monkeypatch):
    """Send the Numba wrappers down their serial or their parallel kernel whatever the size."""
    threshold = 0 if request.param == "parallel" else 2**62
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", threshold)
    return request.param


def make_inputs(input_shape, kernel, geo, dtype, seed=0):
    """x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,), grad_out (N, O, Ho, Wo)."""
    out_channels, kh, kw = kernel
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape).astype(dtype)
    weight = rng.standard_normal((out_channels, input_shape[1] // geo["groups"], kh, kw))
    bias = rng.standard_normal(out_channels).astype(dtype)
    out_h, out_w = conv.conv2d_output_size(*input_shape[2:], (kh, kw), geo["stride"],
                                           geo["padding"], geo["dilation"])
    grad_out = rng.standard_normal((input_shape[0], out_channels, out_h, out_w)).astype(dtype)
    return x, weight.astype(dtype), bias, grad_out


def assert_sum_close(actual, expected, scale, dtype):
    """Compare sums of products: their rounding error scales with the sum of |terms| (`scale`,
    the same op on absolute values), not with the result, which may cancel to nearly zero."""
    assert actual.dtype == dtype
    assert actual.shape == expected.shape
    atol = RTOL[dtype] * float(np.max(scale, initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=atol)


def absolute64(*arrays):
    return [None if a is None else np.abs(a).astype(np.float64) for a in arrays]


def assert_forward_close(y, expected, x, weight, bias, geo, dtype):
    scale = conv.conv2d_forward_reference(*absolute64(x, weight, bias), **geo)
    assert_sum_close(y, expected, scale, dtype)


def assert_backward_close(actual, expected, grad_out, x, weight, geo, dtype):
    """Compare (grad_input, grad_weight, grad_bias) tuples, None where not requested."""
    scales = conv.conv2d_backward_reference(*absolute64(grad_out, x, weight), **geo,
                                            needs_input_grad=True, needs_weight_grad=True,
                                            has_bias=True)
    for got, want, scale in zip(actual, expected, scales):
        if want is None:
            assert got is None
        else:
            assert_sum_close(got, want, scale, dtype)


# --- the references against independent formulas -------------------------------------------

def direct_conv2d(x, weight, bias, stride, padding, dilation, groups):
    """y[n, o, a, b] = bias[o] + sum_{c, i, j} weight[o, c, i, j] x[n, g C/G + c, ih, iw],
    ih = a sh - ph + i dh, iw = b sw - pw + j dw, terms outside the input skipped; float64."""
    n_images, channels, height, width = x.shape
    out_channels, in_per_group, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n_images, out_channels, out_h, out_w))
    for n, o, a, b in itertools.product(range(n_images), range(out_channels), range(out_h),
                                        range(out_w)):
        first_channel = o // (out_channels // groups) * in_per_group
        total = 0.0 if bias is None else float(bias[o])
        for c, i, j in itertools.product(range(in_per_group), range(kh), range(kw)):
            ih, iw = a * sh - ph + i * dh, b * sw - pw + j * dw
            if 0 <= ih < height and 0 <= iw < width:
                total += float(weight[o, c, i, j]) * float(x[n, first_channel + c, ih, iw])
        y[n, o, a, b] = total
    return y


@pytest.mark.parametrize("input_shape, kernel, geo", CASES)
def test_forward_reference_matches_direct_formula(input_shape, kernel, geo):
    x, weight, bias, _ = make_inputs(input_shape, kernel, geo, np.float64)
    for b in (bias, None):
        y = conv.conv2d_forward_reference(x, weight, b, **geo)
        assert_forward_close(y, direct_conv2d(x, weight, b, **geo), x, weight, b, geo,
                             np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_reference_keeps_dtype(dtype):
    x, weight, bias, _ = make_inputs((2, 4, 5, 6), (4, 3, 3), geometry(padding=1, groups=2),
                                     dtype)
    y = conv.conv2d_forward_reference(x, weight, bias, **geometry(padding=1, groups=2))
    assert y.dtype == dtype and y.shape == (2, 4, 5, 6)


@pytest.mark.parametrize("input_shape, kernel, geo",
                         [case for case in CASES if case.id in (
                             "odd-3x3-pad1", "rect-2x5-stride-2x3", "dilation2",
                             "depthwise-x2", "mixed-groups-stride-dilation",
                             "padding-wider-than-kernel-one-image")])
def test_backward_reference_matches_finite_differences(input_shape, kernel, geo):
    """For L = sum(grad_out * y), dL/dx, dL/dW, dL/db are the backward outputs; check each
    along random directions with float64 central differences (exact up to rounding: L is
    linear in each argument)."""
    x, weight, bias, grad_out = make_inputs(input_shape, kernel, geo, np.float64, seed=1)
    grads = conv.conv2d_backward_reference(grad_out, x, weight, **geo, needs_input_grad=True,
                                           needs_weight_grad=True, has_bias=True)

    def loss(x, weight, bias):
        return float(np.sum(grad_out * conv.conv2d_forward_reference(x, weight, bias, **geo)))

    rng = np.random.default_rng(2)
    step = 1e-6
    for index, grad in enumerate(grads):
        inputs = [x, weight, bias]
        assert grad.shape == inputs[index].shape and grad.dtype == np.float64
        for _ in range(3):
            direction = rng.standard_normal(inputs[index].shape)
            plus, minus = list(inputs), list(inputs)
            plus[index] = inputs[index] + step * direction
            minus[index] = inputs[index] - step * direction
            numeric = (loss(*plus) - loss(*minus)) / (2 * step)
            assert numeric == pytest.approx(float(np.sum(grad * direction)), rel=1e-7,
                                            abs=1e-8)


@pytest.mark.parametrize("input_shape, kernel, geo", CASES)
def test_numba_im2col_and_col2im_are_adjoint(input_shape, kernel, geo):
    """The copy loops behind the Numba kernels, for one image through its zero-bordered copy:
    im2col matches the reference, and <im2col(x), cols> = <x, col2im(cols)> (col2im adds every
    entry back to the pixel it was read from, padding dropped)."""
    _, channels, height, width = input_shape
    out_channels, kh, kw = kernel
    geometry = conv._geometry((kh, kw), geo["stride"], geo["padding"], geo["dilation"])
    ph, pw = geo["padding"]
    out_h, out_w = conv.conv2d_output_size(height, width, (kh, kw), geo["stride"],
                                           geo["padding"], geo["dilation"])
    rng = np.random.default_rng(5)
    image = rng.standard_normal((channels, height, width))
    padded = np.zeros((channels, height + 2 * ph, width + 2 * pw))
    conv._pad_image(image, ph, pw, padded)
    cols = np.full((channels * kh * kw, out_h * out_w), np.nan)
    conv._im2col_image(padded, geometry, out_h, out_w, cols)
    expected = conv._im2col_reference(image[None], (kh, kw), geo["stride"], geo["padding"],
                                      geo["dilation"])
    np.testing.assert_array_equal(cols, expected.reshape(cols.shape))

    grad_cols = rng.standard_normal(cols.shape)
    grad_padded = np.zeros_like(padded)
    conv._col2im_image(grad_cols, geometry, out_h, out_w, grad_padded)
    grad_image = np.full_like(image, np.nan)
    conv._crop_image(grad_padded, ph, pw, grad_image)
    assert np.sum(cols * grad_cols) == pytest.approx(np.sum(image * grad_image), rel=1e-12)


# --- Numba against the reference ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("input_shape, kernel, geo", CASES)
def test_forward_numba_matches_reference(dtype, input_shape, kernel, geo, path):
    x, weight, bias, _ = make_inputs(input_shape, kernel, geo, dtype)
    for b in (bias, None):
        y = conv.conv2d_forward_numba(x, weight, b, **geo)
        expected = conv.conv2d_forward_reference(x, weight, b, **geo)
        assert_forward_close(y, expected, x, weight, b, geo, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("input_shape, kernel, geo", CASES)
def test_backward_numba_matches_reference(dtype, input_shape, kernel, geo, path):
    x, weight, _, grad_out = make_inputs(input_shape, kernel, geo, dtype)
    flags = dict(needs_input_grad=True, needs_weight_grad=True, has_bias=True)
    actual = conv.conv2d_backward_numba(grad_out, x, weight, **geo, **flags)
    expected = conv.conv2d_backward_reference(grad_out, x, weight, **geo, **flags)
    assert_backward_close(actual, expected, grad_out, x, weight, geo, dtype)


@pytest.mark.parametrize("flags", list(itertools.product([True, False], repeat=3)),
                         ids=lambda flags: "".join("1" if flag else "0" for flag in flags))
def test_backward_returns_only_requested_gradients(flags, path):
    geo = geometry(stride=2, padding=1, groups=2)
    x, weight, _, grad_out = make_inputs((3, 4, 7, 6), (6, 3, 3), geo, np.float32)
    actual = conv.conv2d_backward_numba(grad_out, x, weight, **geo, needs_input_grad=flags[0],
                                        needs_weight_grad=flags[1], has_bias=flags[2])
    expected = conv.conv2d_backward_reference(grad_out, x, weight, **geo, needs_input_grad=flags[0],
                                              needs_weight_grad=flags[1], has_bias=flags[2])
    assert [a is None for a in actual] == [not flag for flag in flags]
    assert_backward_close(actual, expected, grad_out, x, weight, geo, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_and_read_only_inputs(dtype, path):
    geo = geometry(stride=(1, 2), padding=1, groups=2)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 9, 7)).astype(dtype).transpose(0, 1, 3, 2)   # (3, 4, 7, 9)
    weight = rng.standard_normal((12, 4, 3, 3)).astype(dtype)[::2, ::2]         # (6, 2, 3, 3)
    bias = rng.standard_normal(12).astype(dtype)[1::2]                          # (6,)
    grad_out = np.asfortranarray(rng.standard_normal((3, 6, 7, 5)).astype(dtype))
    assert not any(a.flags.c_contiguous for a in (x, weight, bias, grad_out))

    y = conv.conv2d_forward_numba(x, weight, bias, **geo)
    expected = conv.conv2d_forward_reference(x, weight, bias, **geo)
    assert_forward_close(y, expected, x, weight, bias, geo, dtype)
    flags = dict(needs_input_grad=True, needs_weight_grad=True, has_bias=True)
    actual = conv.conv2d_backward_numba(grad_out, x, weight, **geo, **flags)
    expected = conv.conv2d_backward_reference(grad_out, x, weight, **geo, **flags)
    assert_backward_close(actual, expected, grad_out, x, weight, geo, dtype)

    read_only = np.ascontiguousarray(x)
    read_only.flags.writeable = False
    y = conv.conv2d_forward_numba(read_only, weight, bias, **geo)
    assert_forward_close(y, conv.conv2d_forward_reference(x, weight, bias, **geo),
                         x, weight, bias, geo, dtype)


def test_big_problem_takes_parallel_path_and_matches():
    """No threshold override: a convolution above PARALLEL_MIN_MACS, as the wrappers pick it."""
    geo = geometry(padding=1)
    x, weight, bias, grad_out = make_inputs((4, 16, 16, 16), (32, 3, 3), geo, np.float32)
    assert conv._use_parallel(x.shape[0], weight, 16, 16)
    y = conv.conv2d_forward_numba(x, weight, bias, **geo)
    expected = conv.conv2d_forward_reference(x, weight, bias, **geo)
    assert_forward_close(y, expected, x, weight, bias, geo, np.float32)
    flags = dict(needs_input_grad=True, needs_weight_grad=True, has_bias=True)
    actual = conv.conv2d_backward_numba(grad_out, x, weight, **geo, **flags)
    expected = conv.conv2d_backward_reference(grad_out, x, weight, **geo, **flags)
    assert_backward_close(actual, expected, grad_out, x, weight, geo, np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_nan_and_inf_propagate(implementation, path):
    forward = getattr(conv, f"conv2d_forward_{implementation}")
    backward = getattr(conv, f"conv2d_backward_{implementation}")
    geo = geometry(padding=1, groups=2)
    x, weight, bias, grad_out = make_inputs((3, 4, 7, 7), (6, 3, 3), geo, np.float32)
    weight = np.abs(weight) + np.float32(0.1)  # positive: an inf input gives +inf, not inf-inf
    finite_x = x.copy()
    x[0, 1, 2, 2] = np.nan                     # channel 1: group 0 (output channels 0-2)
    x[1, 3, 0, 6] = np.inf                     # channel 3: group 1 (output channels 3-5)
    grad_out[2, 4, 3, 3] = np.nan              # output channel 4: group 1 (input channels 2-3)

    def reach(indicator):
        """Where a forward output sees a marked input pixel (through the same geometry)."""
        return conv.conv2d_forward_reference(indicator, np.ones_like(weight), None, **geo) > 0

    y = forward(x, weight, bias, **geo)
    nan_reach, inf_reach = reach(np.isnan(x).astype(np.float32)), reach(np.isinf(x) * 1.0)
    assert nan_reach[0, :3].any() and not nan_reach[0, 3:].any()
    np.testing.assert_array_equal(np.isnan(y), nan_reach)
    np.testing.assert_array_equal(np.isposinf(y), inf_reach)

    grad_input, grad_weight, grad_bias = backward(grad_out, finite_x, weight, **geo,
                                                  needs_input_grad=True, needs_weight_grad=True,
                                                  has_bias=True)
    back_reach = conv.conv2d_backward_reference(
        np.isnan(grad_out) * np.float32(1), x, np.ones_like(weight), **geo,
        needs_input_grad=True, needs_weight_grad=False, has_bias=False)[0] > 0
    assert back_reach[2, 2:].any() and not back_reach[2, :2].any()
    np.testing.assert_array_equal(np.isnan(grad_input), back_reach)
    assert np.isnan(grad_weight[4]).all()
    assert np.isfinite(np.delete(grad_weight, 4, axis=0)).all()
    assert np.isnan(grad_bias[4]) and np.isfinite(np.delete(grad_bias, 4)).all()


def test_kernel_table():
    assert conv.KERNELS == {
        "conv2d_forward": (conv.conv2d_forward_reference, conv.conv2d_forward_numba),
        "conv2d_backward": (conv.conv2d_backward_reference, conv.conv2d_backward_numba),
    }
