"""Sums inside the kernels keep their accuracy however long they get (issue 11, item 15).

A float32 running sum drifts as it grows: each addition rounds to the spacing of the partial
sum, and for values of one sign and similar size (here 1 + 0.01*u) those roundings lean the
same way, so the error grows with the length (9e-4 for a global average pool of 4096x4096
such values; once a partial sum reaches 2^24, adding 1 changes nothing). Every test below runs
one reduction of LENGTH such values through a kernel, its Numba form and its NumPy reference,
and compares with the sum in float64 under a relative tolerance that does not depend on
LENGTH. Before the fix these failed: the Numba pooling, softmax, log-softmax and
cross-entropy kernels and conv's grad_weight summed in float32; the references of BatchNorm,
linear's grad_bias and conv's grad_weight and grad_bias summed in float32 along a strided axis
(NumPy's pairwise summation applies only along the contiguous axis; along the others it adds
one slice after the other), and the reference of average pooling added the offsets of a
window one after the other in float32.

Sizes: LENGTH is 2^22 with the JIT (every test listed above as failing before failed there).
With NUMBA_DISABLE_JIT=1 the kernels run as Python, one NumPy scalar at a time, so LENGTH is
2^16 there (the whole file then takes about 15 s): the old Numba kernels' float32 sums, run
strictly in order, were already 7e-5 off at that size, but some old references (BatchNorm over
1024 samples, conv over 1024 images) were not yet outside the tolerance.

Audited and holding before this change (the tests marked "guard" keep them so): BatchNorm's
Numba statistics and gradient sums (float64 partials), linear's Numba grad_bias (float64),
conv's Numba grad_bias (float64), and the batch reductions of cross_entropy and mse_loss in
minidl.functional (float64); the references of softmax and cross-entropy (pairwise sums along
the row) and of adaptive average pooling (now float64 all the same). Not reductions: the
activations, dropout, the optimizers (no norms) and the backward passes of pooling (each input
element gets one share per window that contains it). Left as they are: the matrix products
(BLAS's float32 sums over in_features, and over the batch for linear's grad_weight, as in
PyTorch; 3.5e-6 relative at 2^22 terms of 1 + 0.01*u).
"""
import numba
import numpy as np
import pytest

import minidl
from minidl import functional as F
from minidl.kernels import batchnorm, conv, linear, losses, pooling

JIT = not numba.config.DISABLE_JIT
LENGTH = 1 << 22 if JIT else 1 << 16
SIDE = int(LENGTH ** 0.5)  # a SIDE x SIDE plane holds LENGTH values
# float32 results: a few ulp. The kernels' blocked and float64 sums stay well inside this
# at any length; the old float32 running sums were 7e-5 .. 2e-3 off.
RTOL = 1e-6


def ones_with_noise(shape, seed=0):
    """float32 values 1 + 0.01*u, u uniform in [0, 1): where float32 running sums drift."""
    rng = np.random.default_rng(seed)
    return (1 + 0.01 * rng.random(shape)).astype(np.float32)


def exact_sum(values, axis=None):
    """The sum in float64 (pairwise, from exactly converted float32 values): 1e-15 relative."""
    return np.asarray(values, dtype=np.float64).sum(axis=axis)


def assert_relative(got, exact, rtol=RTOL):
    got, exact = np.asarray(got, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    error = np.max(np.abs(got - exact) / np.abs(exact))
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


def assert_within_scale(got, exact, scale, rtol=RTOL):
    """|got - exact| <= rtol * scale: for results that cancel (gradients through a mean)."""
    error = np.max(np.abs(np.asarray(got, np.float64) - exact)) / scale
    assert error <= rtol, f"error {error:.2e} of the scale > {rtol:.0e}"


BOTH = pytest.mark.parametrize("implementation", ["reference", "numba"])


def kernel(module, name, implementation):
    return getattr(module, f"{name}_{implementation}")


# --- Pooling -----------------------------------------------------------------------------

@BOTH
def test_global_average_pool_of_a_large_plane(implementation):
    x = ones_with_noise((1, 2, SIDE, SIDE))  # two planes: the parallel driver with the JIT
    y = kernel(pooling, "adaptive_avg_pool2d_forward", implementation)(x, (1, 1))
    assert_relative(y[:, :, 0, 0], exact_sum(x, axis=(2, 3)) / x[0, 0].size)


@BOTH
def test_adaptive_average_pool_of_bins_narrower_than_the_plane(implementation):
    """Bins of half the width: summed row by row, not as one contiguous run."""
    x = ones_with_noise((1, 1, SIDE, SIDE))
    y = kernel(pooling, "adaptive_avg_pool2d_forward", implementation)(x, (1, 2))
    half = SIDE // 2
    exact = [exact_sum(x[0, 0, :, :half]), exact_sum(x[0, 0, :, half:])]
    assert_relative(y[0, 0, 0], np.array(exact) / (SIDE * half))


# The reference of average pooling loops in Python over the offsets of the window, so its
# windows hold 2^16 values (with the JIT as without), enough for a float32 sum in order to
# drift; the Numba kernels' windows hold LENGTH values (their old float32 sums vectorised into
# many partial sums, which drift later).
WINDOW = 1 << 16


def window_length(implementation):
    return WINDOW if implementation == "reference" else LENGTH


@BOTH
def test_average_pool_with_a_window_of_the_whole_plane(implementation):
    side = int(window_length(implementation) ** 0.5)
    x = ones_with_noise((1, 2, side, side))
    pool = kernel(pooling, "avg_pool2d_forward", implementation)
    y = pool(x, (side, side), (1, 1), (0, 0), True)
    assert_relative(y[:, :, 0, 0], exact_sum(x, axis=(2, 3)) / side ** 2)


@BOTH
def test_average_pool_with_a_window_of_one_long_row(implementation):
    """A (1, W) window longer than a block: the row is cut into blocks."""
    length = window_length(implementation)
    x = ones_with_noise((1, 1, 2, length))
    pool = kernel(pooling, "avg_pool2d_forward", implementation)
    y = pool(x, (1, length), (1, 1), (0, 0), True)
    assert_relative(y[0, 0, :, 0], exact_sum(x[0, 0], axis=1) / length)


# --- BatchNorm ---------------------------------------------------------------------------
# (N, C, L) layouts of the kernels: "rows" (L > 1) and "columns" (L == 1, BatchNorm1d).
BN_SHAPES = {"rows": (LENGTH // 64, 4, 16), "columns": (LENGTH // 4, 4, 1)}


def bn_parameters(channels):
    weight = np.linspace(0.5, 1.5, channels).astype(np.float32)
    return weight, np.linspace(-0.1, 0.1, channels).astype(np.float32)


@BOTH
@pytest.mark.parametrize("layout", sorted(BN_SHAPES))
def test_batch_norm_statistics(implementation, layout):
    """mean and biased var over N*L values per channel (the Numba kernels: a guard)."""
    x = ones_with_noise(BN_SHAPES[layout])
    weight, bias = bn_parameters(x.shape[1])
    forward = kernel(batchnorm, "batch_norm_forward_train", implementation)
    _, mean, invstd, var = forward(x, weight, bias, 1e-5)
    x64 = x.astype(np.float64)
    exact_mean = x64.mean(axis=(0, 2))
    exact_var = ((x64 - exact_mean[:, None]) ** 2).mean(axis=(0, 2))
    assert_relative(mean, exact_mean)
    # the variance of 1 + 0.01*u is 8e-6: relative to it, float32 rounding of x - mean
    # (1e-7 absolute in each difference, averaging out) leaves a few 1e-7
    assert_relative(var, exact_var, rtol=1e-5)
    assert_relative(invstd, 1 / np.sqrt(exact_var + 1e-5), rtol=1e-5)


def exact_bn_backward(grad_out, x, mean, invstd, weight):
    """grad_input, grad_weight, grad_bias of training-mode BatchNorm in float64, from the
    float32 mean and invstd the kernels were given."""
    g, x = grad_out.astype(np.float64), x.astype(np.float64)
    mean, invstd = mean.astype(np.float64)[:, None], invstd.astype(np.float64)[:, None]
    count = x.shape[0] * x.shape[2]
    grad_bias = g.sum(axis=(0, 2))
    dot = (g * (x - mean)).sum(axis=(0, 2))
    grad_input = ((g - (x - mean) * (dot[:, None] / count) * invstd ** 2
                   - grad_bias[:, None] / count) * invstd * weight.astype(np.float64)[:, None])
    return grad_input, dot * invstd[:, 0], grad_bias


@BOTH
@pytest.mark.parametrize("layout", sorted(BN_SHAPES))
def test_batch_norm_backward_sums(implementation, layout):
    """sum(g) and sum(g * xhat) (grad_bias, grad_weight) and the grad_input built from them
    (the Numba kernels: a guard)."""
    x = ones_with_noise(BN_SHAPES[layout], seed=1)
    grad_out = ones_with_noise(x.shape, seed=2)
    weight, bias = bn_parameters(x.shape[1])
    _, mean, invstd, _ = batchnorm.batch_norm_forward_train_reference(x, weight, bias, 1e-5)
    backward = kernel(batchnorm, "batch_norm_backward_train", implementation)
    grad_input, grad_weight, grad_bias = backward(grad_out, x, mean, invstd, weight)
    exact_input, exact_weight, exact_bias = exact_bn_backward(grad_out, x, mean, invstd, weight)
    assert_relative(grad_bias, exact_bias)
    # sum(g * (x - mean)) cancels to 1e-3 of sum(|g * (x - mean)|): float32 products leave
    # about 1e-7 of the latter
    assert_within_scale(grad_weight, exact_weight,
                        scale=np.max(exact_sum(np.abs(grad_out * (x - mean[:, None])),
                                               axis=(0, 2)) * invstd))
    # grad_input is g minus its mean and projection: about 0.01 of the scale of g * invstd
    assert_within_scale(grad_input, exact_input, scale=np.max(np.abs(invstd * weight)),
                        rtol=1e-5)


@BOTH
def test_batch_norm_eval_backward_sums(implementation):
    x = ones_with_noise(BN_SHAPES["rows"], seed=1)
    grad_out = ones_with_noise(x.shape, seed=2)
    weight, _ = bn_parameters(x.shape[1])
    mean = np.full(x.shape[1], 0.5, np.float32)
    invstd = np.full(x.shape[1], 2.0, np.float32)
    backward = kernel(batchnorm, "batch_norm_backward_eval", implementation)
    _, grad_weight, grad_bias = backward(grad_out, x, mean, invstd, weight)
    xhat = (x.astype(np.float64) - 0.5) * 2.0
    assert_relative(grad_bias, exact_sum(grad_out, axis=(0, 2)))
    assert_relative(grad_weight, (grad_out * xhat).sum(axis=(0, 2)))


# --- Softmax and cross-entropy over one long row ---------------------------------------

def long_row_of_logits():
    return 0.01 * np.random.default_rng(3).random((1, LENGTH)).astype(np.float32)


def exact_softmax(x):
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum(axis=1, keepdims=True)


@BOTH
def test_softmax_over_a_long_row(implementation):
    x = long_row_of_logits()
    assert_relative(kernel(losses, "softmax_forward", implementation)(x), exact_softmax(x))


@BOTH
def test_log_softmax_over_a_long_row(implementation):
    x = long_row_of_logits()
    exact = np.log(exact_softmax(x))
    assert_relative(kernel(losses, "log_softmax_forward", implementation)(x), exact)


@BOTH
def test_softmax_backward_over_a_long_row(implementation):
    """dx = y * (g - sum(g * y)): sum(g * y) is near every g, so dx is 1e-2 of y * g."""
    x = long_row_of_logits()
    y = losses.softmax_forward_reference(x)
    grad_out = ones_with_noise(x.shape, seed=4)
    y64, g64 = y.astype(np.float64), grad_out.astype(np.float64)
    exact = y64 * (g64 - (g64 * y64).sum())
    got = kernel(losses, "softmax_backward", implementation)(grad_out, y)
    assert_within_scale(got, exact, scale=np.max(y64 * g64))


@BOTH
def test_log_softmax_backward_over_a_long_row(implementation):
    """dx = g - exp(y) * sum(g), both terms about 1."""
    x = long_row_of_logits()
    y = losses.log_softmax_forward_reference(x)
    grad_out = ones_with_noise(x.shape, seed=4)
    exact = grad_out - np.exp(y.astype(np.float64)) * exact_sum(grad_out)
    got = kernel(losses, "log_softmax_backward", implementation)(grad_out, y)
    assert_within_scale(got, exact, scale=np.max(grad_out))


@BOTH
def test_cross_entropy_over_a_long_row(implementation):
    x = long_row_of_logits()
    target = np.array([7])
    loss, grad = kernel(losses, "softmax_cross_entropy", implementation)(x, target)
    exact_grad = exact_softmax(x)
    exact_loss = -np.log(exact_grad[0, 7])
    exact_grad[0, 7] -= 1
    assert_relative(loss, [exact_loss])
    # grad = softmax - onehot: the probabilities (1/LENGTH each) to RTOL, the -1 to RTOL of 1
    assert_relative(np.delete(grad, 7), np.delete(exact_grad, 7))
    assert abs(grad[0, 7] - exact_grad[0, 7]) <= RTOL


@pytest.mark.parametrize("kernel_set", ["numpy", "numba"])
def test_cross_entropy_and_mse_mean_over_a_large_batch(kernel_set):
    """Guard: the reductions over the batch in minidl.functional are float64 sums."""
    logits = np.zeros((LENGTH, 2), np.float32)
    logits[:, 0] = 0.01 * np.random.default_rng(5).random(LENGTH)
    target = np.zeros(LENGTH, np.int64)
    prediction, wanted = ones_with_noise(LENGTH, seed=6), np.zeros(LENGTH, np.float32)
    with minidl.use_kernels(kernel_set):
        cross_entropy = F.cross_entropy(minidl.Tensor(logits), target).data
        per_sample = F.cross_entropy(minidl.Tensor(logits), target, reduction="none").data
        squared = F.mse_loss(minidl.Tensor(prediction), minidl.Tensor(wanted),
                             reduction="sum").data
    assert_relative(cross_entropy, exact_sum(per_sample) / LENGTH)
    assert_relative(squared, exact_sum(prediction.astype(np.float64) ** 2))


# --- Linear and convolution gradients summed over the batch ------------------------------

@BOTH
def test_linear_grad_bias_over_a_large_batch(implementation):
    """grad_bias = column sums of grad_out (N, 8) (the Numba kernel: a guard)."""
    grad_out = ones_with_noise((LENGTH // 8, 8))
    x = np.ones((grad_out.shape[0], 1), np.float32)
    weight = np.ones((8, 1), np.float32)
    backward = kernel(linear, "linear_backward", implementation)
    _, _, grad_bias = backward(grad_out, x, weight, False, False, True)
    assert_relative(grad_bias, exact_sum(grad_out, axis=0))


@BOTH
def test_conv_weight_and_bias_gradients_over_many_images(implementation):
    """A 1x1 convolution, 2 -> 2 channels, over LENGTH / 64 images of 4x4: grad_weight sums
    a short product per image over many images; grad_bias sums over N*H*W (the Numba
    grad_bias: a guard)."""
    images = LENGTH // 64
    x = ones_with_noise((images, 2, 4, 4), seed=7)
    grad_out = ones_with_noise((images, 2, 4, 4), seed=8)
    weight = np.ones((2, 2, 1, 1), np.float32)
    backward = kernel(conv, "conv2d_backward", implementation)
    _, grad_weight, grad_bias = backward(grad_out, x, weight, (1, 1), (0, 0), (1, 1), 1,
                                         False, True, True)
    exact_weight = np.einsum("nchw,nohw->oc", x.astype(np.float64),
                             grad_out.astype(np.float64))
    assert_relative(grad_weight[:, :, 0, 0], exact_weight)
    assert_relative(grad_bias, exact_sum(grad_out, axis=(0, 2, 3)))
