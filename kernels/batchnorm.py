"""Batch Normalization kernels (Ioffe & Szegedy 2015), with PyTorch's semantics.

Every op takes x as an (N, C, L) array: the caller reshapes (N, C) -> (N, C, 1) and
(N, C, H, W) -> (N, C, H*W). Statistics are per channel c, over the N*L values x[:, c, :].

    mean   = sum_{n,l} x / (N*L)
    var    = sum_{n,l} (x - mean)^2 / (N*L)          BIASED (the caller derives the unbiased one)
    invstd = 1 / sqrt(var + eps)
    xhat   = (x - mean) * invstd
    y      = xhat * weight + bias                    (Ioffe & Szegedy 2015, Alg. 1)

Backward with batch statistics (the gradient also flows through mean and var), in the form of
PyTorch's torch/_decomp/decompositions.py native_batch_norm_backward, with g = grad_out:

    grad_bias   = sum_{n,l} g
    grad_weight = sum_{n,l} g * xhat = invstd * sum_{n,l} g * (x - mean)
    grad_input  = (g - (x - mean) * invstd^2 * sum(g * (x - mean)) / (N*L)
                     - sum(g) / (N*L)) * invstd * weight

With running statistics (constants for the gradient) grad_input = g * invstd * weight.
BatchNorm+ReLU fuses y = relu(bn(x)); its backward recomputes the ReLU mask from x.

Layout of the Numba kernels (../shared/KERNELS.md, measured to beat PyTorch):
- L > 1, the "rows" kernels: the C-contiguous (N, C, L) array is N*C contiguous rows of L
  values. A parallel loop over rows writes one partial sum per row; the partials are combined
  per channel serially in float64. Parallelising over channels instead would give each thread
  N short pieces spread C*L apart.
- L == 1 (BatchNorm1d on (N, C)), the "columns" kernels: rows would hold a single value, so the
  loops run over the (N, C) matrix with the channel index innermost (contiguous, vectorised);
  the parallel loop is over fixed blocks of samples, each with its own partial sums.
- Statistics in one pass over x with SHIFTED sums: d = x - pivot, with the channel's first
  value as pivot; sum(d) and sum(d*d) accumulate in float64. E[x^2] - E[x]^2 without a shift
  loses all digits for data with a large mean (x = 1000 + noise) in float32.
- Backward: one sweep for sum(g) and sum(g * (x - mean)) per row, then one sweep writing dx.
The partial sums are laid out by shape only (per row, or per fixed block of samples), never
per thread, so a kernel gives the same bits for any number of threads.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_in_order, jit_parallel

# ----------------------------------------------------------------------------------------------
# NumPy references: the math as written, the test oracle and the "naive NumPy" baseline.
# ----------------------------------------------------------------------------------------------

_AXES = (0, 2)  # reduce over the batch and the spatial positions of the (N, C, L) input


def _channel_sums(values):
    """sum over the batch and positions of values (N, C, L) -> (C,) float64.

    In float64 because NumPy adds along the batch axis one sample after the other (pairwise
    summation applies only along the contiguous L axis): a float32 sum would drift with N (for
    2^18 samples x 4 positions of 1 + 0.01*u per channel, the mean came out 2e-3 off and the
    variance 50%).
    """
    return values.sum(axis=_AXES, dtype=np.float64)


def _per_channel(values):
    """(C,) -> (C, 1), which broadcasts against (N, C, L)."""
    return values[:, None]


def _affine_reference(x, mean, invstd, weight, bias):
    """y = (x - mean) * invstd * weight + bias. x: (N, C, L); the others: (C,)."""
    xhat = (x - _per_channel(mean)) * _per_channel(invstd)
    return xhat * _per_channel(weight) + _per_channel(bias)


def batch_norm_forward_train_reference(x, weight, bias, eps):
    """Training-mode BatchNorm forward with the batch statistics (Ioffe & Szegedy 2015, Alg. 1).

    Args: x (N, C, L); weight, bias (C,); eps a float.
    Returns: y (N, C, L); mean, invstd = 1/sqrt(var + eps), var (C,), var BIASED (divided by
    N*L). All in x's dtype.
    """
    count = x.shape[0] * x.shape[2]
    mean = (_channel_sums(x) / count).astype(x.dtype)
    var = (_channel_sums((x - _per_channel(mean)) ** 2) / count).astype(x.dtype)
    invstd = 1 / np.sqrt(var + eps)
    y = _affine_reference(x, mean, invstd, weight, bias)
    return y, mean, invstd, var


def batch_norm_forward_eval_reference(x, mean, var, weight, bias, eps):
    """Evaluation-mode BatchNorm forward: the affine transform with given (running) statistics.

    Args: x (N, C, L); mean, var, weight, bias (C,); eps a float. Returns y (N, C, L).
    """
    invstd = 1 / np.sqrt(var + eps)
    return _affine_reference(x, mean, invstd, weight, bias)


def batch_norm_backward_train_reference(grad_out, x, mean, invstd, weight):
    """Backward of the training-mode forward: the gradient flows through mean and var too.

    PyTorch's native_batch_norm_backward decomposition (see the module docstring).
    Args: grad_out, x (N, C, L); mean, invstd, weight (C,) as saved by the forward.
    Returns: grad_input (N, C, L), grad_weight (C,), grad_bias (C,).
    """
    count = x.shape[0] * x.shape[2]
    x_minus_mean = x - _per_channel(mean)
    grad_out_sum = _channel_sums(grad_out).astype(grad_out.dtype)
    dot_product = _channel_sums(grad_out * x_minus_mean).astype(grad_out.dtype)  # sum(g (x-mean))

    grad_mean = grad_out_sum / count
    projection_scale = dot_product / count * invstd * invstd
    grad_scale = invstd * weight
    projection = x_minus_mean * _per_channel(projection_scale)
    grad_input = (grad_out - projection - _per_channel(grad_mean)) * _per_channel(grad_scale)
    grad_weight = dot_product * invstd
    grad_bias = grad_out_sum
    return grad_input, grad_weight, grad_bias


def batch_norm_backward_eval_reference(grad_out, x, mean, invstd, weight):
    """Backward when mean and invstd were constants (the running statistics in eval mode).

    Args: grad_out, x (N, C, L); mean, invstd, weight (C,).
    Returns: grad_input = grad_out * invstd * weight (N, C, L), grad_weight = sum(grad_out *
    xhat) (C,), grad_bias = sum(grad_out) (C,).
    """
    xhat = (x - _per_channel(mean)) * _per_channel(invstd)
    grad_input = grad_out * _per_channel(invstd * weight)
    grad_weight = _channel_sums(grad_out * xhat).astype(grad_out.dtype)
    grad_bias = _channel_sums(grad_out).astype(grad_out.dtype)
    return grad_input, grad_weight, grad_bias


def batch_norm_relu_forward_train_reference(x, weight, bias, eps):
    """relu(training-mode BatchNorm forward). Same arguments and results as
    batch_norm_forward_train_reference, with y = max(y, 0) (NaN stays NaN, like torch.relu)."""
    y, mean, invstd, var = batch_norm_forward_train_reference(x, weight, bias, eps)
    return np.maximum(y, 0), mean, invstd, var


def batch_norm_relu_backward_train_reference(grad_out, x, mean, invstd, weight, bias):
    """Backward of relu(BatchNorm) with batch statistics; the ReLU mask is recomputed from x.

    The ReLU passes the gradient where its input bn(x) > 0 (where bn(x) <= 0 it is 0, as in
    torch's threshold_backward; NaN passes), then the BatchNorm backward follows.
    Args: grad_out, x (N, C, L); mean, invstd, weight, bias (C,).
    Returns: grad_input (N, C, L), grad_weight (C,), grad_bias (C,).
    """
    y = _affine_reference(x, mean, invstd, weight, bias)
    grad_y = np.where(y <= 0, 0, grad_out)
    return batch_norm_backward_train_reference(grad_y, x, mean, invstd, weight)


# ----------------------------------------------------------------------------------------------
# Numba kernels
# ----------------------------------------------------------------------------------------------

# --- Per-element math, shared by every kernel so that all of them round alike. ---------------
# It is compiled with `jit_in_order` (no 'reassoc'), like every function here that is not a
# sum: it rounds as written whether the kernel was compiled in this process or loaded from the
# cache (see FASTMATH_IN_ORDER in _config). The sums keep 'reassoc', which they need to
# vectorise.
# np.float32(0) is a typed zero: it unifies with float32 as float32 and with float64 as float64,
# where a literal 0 would promote float32 values to float64.

@jit_in_order
def _affine(x, mean, invstd, weight, bias):
    """One element of y = (x - mean) * invstd * weight + bias, in x's dtype."""
    return (x - mean) * invstd * weight + bias


@jit_in_order
def _bn_output(x, mean, invstd, weight, bias, relu):
    """One element of bn(x), or of relu(bn(x)) if `relu` (NaN < 0 is False, so NaN stays NaN)."""
    y = _affine(x, mean, invstd, weight, bias)
    if relu and y < 0:
        y = np.float32(0)
    return y


@jit_in_order
def _grad_after_relu(grad, x, mean, invstd, weight, bias, relu):
    """The gradient reaching bn's output: `grad`, or, if `relu`, 0 where bn(x) <= 0.

    The mask is recomputed from x with the same arithmetic as the forward (no stored
    pre-activation); NaN passes the gradient, as in torch's threshold_backward.
    """
    if relu and _affine(x, mean, invstd, weight, bias) <= 0:
        grad = np.float32(0)
    return grad


@jit_in_order
def _grad_input(grad, x, mean, through_stats, projection_scale, grad_mean, grad_scale):
    """One element of grad_input.

    Batch statistics (through_stats): (grad - (x - mean) * projection_scale - grad_mean)
    * grad_scale. Constant statistics: grad * grad_scale (x is not read, so a NaN in x
    does not reach the gradient, as in PyTorch).
    """
    if through_stats:
        grad = grad - (x - mean) * projection_scale - grad_mean
    return grad * grad_scale


# --- One row of the (N*C, L) view ("rows" kernels, L > 1). Channel values are scalars. -------

@jit
def _row_shifted_sums(x_row, pivot):
    """sum(d) and sum(d * d) in float64 with d = x - pivot. x_row: (L,); pivot: float64."""
    total = 0.0
    total_sq = 0.0
    for l in range(x_row.shape[0]):
        d = np.float64(x_row[l]) - pivot
        total += d
        total_sq += d * d
    return total, total_sq


@jit_in_order
def _row_bn_output(x_row, mean, invstd, weight, bias, relu, y_row):
    """y_row = bn(x_row) or relu(bn(x_row)). x_row, y_row: (L,)."""
    for l in range(x_row.shape[0]):
        y_row[l] = _bn_output(x_row[l], mean, invstd, weight, bias, relu)


@jit
def _row_gradient_sums(grad_row, x_row, mean, invstd, weight, bias, relu):
    """sum(g) and sum(g * (x - mean)) in float64, g the gradient after the ReLU mask. (L,)."""
    total = 0.0
    total_x = 0.0
    mean64 = np.float64(mean)
    for l in range(x_row.shape[0]):
        g = np.float64(_grad_after_relu(grad_row[l], x_row[l], mean, invstd, weight, bias, relu))
        total += g
        total_x += g * (np.float64(x_row[l]) - mean64)
    return total, total_x


@jit_in_order
def _row_grad_input(grad_row, x_row, mean, invstd, weight, bias, relu, through_stats,
                    projection_scale, grad_mean, grad_scale, grad_input_row):
    """grad_input for one row. grad_row, x_row, grad_input_row: (L,); the rest scalars."""
    for l in range(x_row.shape[0]):
        g = _grad_after_relu(grad_row[l], x_row[l], mean, invstd, weight, bias, relu)
        grad_input_row[l] = _grad_input(g, x_row[l], mean, through_stats, projection_scale,
                                        grad_mean, grad_scale)


# --- Samples of the (N, C) matrix ("columns" kernels, L == 1). Channel values are (C,). -----

@jit
def _columns_shifted_sums(x_block, pivot, total, total_sq):
    """total, total_sq (C,) float64 = sums over the samples of x_block (n, C) of d and d * d,
    d = x - pivot; the channel loop is innermost, over contiguous values."""
    total[:] = 0.0
    total_sq[:] = 0.0
    for n in range(x_block.shape[0]):
        for c in range(x_block.shape[1]):
            d = np.float64(x_block[n, c]) - pivot[c]
            total[c] += d
            total_sq[c] += d * d


@jit_in_order
def _columns_bn_output(x_row, mean, invstd, weight, bias, relu, y_row):
    """y_row = bn(x_row) or relu(bn(x_row)) for one sample. All arrays (C,)."""
    for c in range(x_row.shape[0]):
        y_row[c] = _bn_output(x_row[c], mean[c], invstd[c], weight[c], bias[c], relu)


@jit
def _columns_gradient_sums(grad_block, x_block, mean, invstd, weight, bias, relu,
                           total, total_x):
    """total, total_x (C,) float64 = sums over the samples of grad_block, x_block (n, C) of g
    and g * (x - mean), g the gradient after the ReLU mask."""
    total[:] = 0.0
    total_x[:] = 0.0
    for n in range(x_block.shape[0]):
        for c in range(x_block.shape[1]):
            g = np.float64(_grad_after_relu(grad_block[n, c], x_block[n, c], mean[c],
                                            invstd[c], weight[c], bias[c], relu))
            total[c] += g
            total_x[c] += g * (np.float64(x_block[n, c]) - np.float64(mean[c]))


@jit_in_order
def _columns_grad_input(grad_row, x_row, mean, invstd, weight, bias, relu, through_stats,
                        projection_scale, grad_mean, grad_scale, grad_input_row):
    """grad_input for one sample. All arrays (C,)."""
    for c in range(x_row.shape[0]):
        g = _grad_after_relu(grad_row[c], x_row[c], mean[c], invstd[c], weight[c], bias[c],
                             relu)
        grad_input_row[c] = _grad_input(g, x_row[c], mean[c], through_stats,
                                        projection_scale[c], grad_mean[c], grad_scale[c])


@jit
def _column_blocks(samples, channels):
    """How many blocks of samples the columns kernels cut (N, C) into for their partial sums.

    A function of the shape only (not of the thread count), so the sums are added in the same
    order on any machine: about 4096 values per block, at most 32 blocks.
    """
    return max(1, min(samples, 32, samples * channels // 4096))


# --- Per-channel steps (serial, float64): C values, negligible next to the sweeps. ------------

@jit
def _finite_pivots(first_values):
    """The pivot of each channel's shifted sums: its first value, or 0 if that is not finite
    (an Inf pivot would turn an Inf mean into NaN). first_values: (C,); returns float64 (C,)."""
    pivot = np.empty(first_values.shape[0])
    for c in range(first_values.shape[0]):
        value = np.float64(first_values[c])
        pivot[c] = value if np.isfinite(value) else 0.0
    return pivot


@jit_in_order
def _finish_statistics(partial_total, partial_total_sq, pivot, count, eps, mean, invstd, var):
    """mean, biased var and invstd (C,) from per-block shifted sums (blocks, C) of `count`
    values per channel: mean = pivot + S1/count, var = S2/count - (S1/count)^2."""
    blocks, channels = partial_total.shape
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for b in range(blocks):  # block by block: contiguous reads
        for c in range(channels):
            total[c] += partial_total[b, c]
            total_sq[c] += partial_total_sq[b, c]
    for c in range(channels):
        shifted_mean = total[c] / count
        variance = total_sq[c] / count - shifted_mean * shifted_mean
        if variance < 0:  # rounding of a (near-)constant channel; NaN stays NaN
            variance = 0.0
        mean[c] = pivot[c] + shifted_mean
        var[c] = variance
        invstd[c] = 1.0 / np.sqrt(variance + eps)  # from the float64 var, like PyTorch


@jit_in_order
def _invstd(var, eps):
    """1 / sqrt(var + eps) (C,), computed in float64 and returned in var's dtype."""
    invstd = np.empty_like(var)
    for c in range(var.shape[0]):
        invstd[c] = 1.0 / np.sqrt(np.float64(var[c]) + eps)
    return invstd


@jit_in_order
def _finish_gradients(partial_grad, partial_grad_x, count, invstd, weight, grad_weight,
                      grad_bias):
    """grad_weight, grad_bias (C,) and the grad_input coefficients from per-block sums
    (blocks, C) of g and g * (x - mean), over `count` values per channel.

    Returns projection_scale = sum(g (x - mean)) / count * invstd^2, grad_mean = sum(g) / count
    and grad_scale = invstd * weight, (C,) each in invstd's dtype.
    """
    blocks, channels = partial_grad.shape
    total = np.zeros(channels)
    total_x = np.zeros(channels)
    for b in range(blocks):
        for c in range(channels):
            total[c] += partial_grad[b, c]
            total_x[c] += partial_grad_x[b, c]
    projection_scale = np.empty_like(invstd)
    grad_mean = np.empty_like(invstd)
    grad_scale = np.empty_like(invstd)
    for c in range(channels):
        inv = np.float64(invstd[c])
        grad_bias[c] = total[c]
        grad_weight[c] = total_x[c] * inv
        grad_mean[c] = total[c] / count
        projection_scale[c] = total_x[c] / count * inv * inv
        grad_scale[c] = inv * np.float64(weight[c])
    return projection_scale, grad_mean, grad_scale


# --- Drivers: one op each, jitted serially and in parallel below. --------------------------

def _forward_train_rows(x, weight, bias, eps, relu, y, mean, invstd, var):
    """Training forward for L > 1: x, y (N, C, L); weight, bias, mean, invstd, var (C,)."""
    samples, channels, length = x.shape
    pivot = _finite_pivots(x[0, :, 0])
    partial_total = np.empty((samples, channels))  # one slot per row: no shared writes
    partial_total_sq = np.empty((samples, channels))
    for row in prange(samples * channels):  # the contiguous rows of the (N*C, L) view
        n, c = row // channels, row % channels
        total, total_sq = _row_shifted_sums(x[n, c], pivot[c])
        partial_total[n, c] = total
        partial_total_sq[n, c] = total_sq
    _finish_statistics(partial_total, partial_total_sq, pivot, samples * length, eps,
                       mean, invstd, var)
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        _row_bn_output(x[n, c], mean[c], invstd[c], weight[c], bias[c], relu, y[n, c])


def _forward_train_columns(x, weight, bias, eps, relu, y, mean, invstd, var):
    """Training forward for L == 1: x, y (N, C); weight, bias, mean, invstd, var (C,)."""
    samples, channels = x.shape
    pivot = _finite_pivots(x[0])
    blocks = _column_blocks(samples, channels)
    partial_total = np.empty((blocks, channels))  # one row of slots per block
    partial_total_sq = np.empty((blocks, channels))
    for block in prange(blocks):
        start, stop = block * samples // blocks, (block + 1) * samples // blocks
        _columns_shifted_sums(x[start:stop], pivot, partial_total[block],
                              partial_total_sq[block])
    _finish_statistics(partial_total, partial_total_sq, pivot, samples, eps, mean, invstd, var)
    for n in prange(samples):
        _columns_bn_output(x[n], mean, invstd, weight, bias, relu, y[n])


def _forward_eval_rows(x, mean, var, weight, bias, eps, y):
    """Eval forward for L > 1: x, y (N, C, L); mean, var, weight, bias (C,)."""
    samples, channels, _ = x.shape
    invstd = _invstd(var, eps)
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        _row_bn_output(x[n, c], mean[c], invstd[c], weight[c], bias[c], False, y[n, c])


def _forward_eval_columns(x, mean, var, weight, bias, eps, y):
    """Eval forward for L == 1: x, y (N, C); mean, var, weight, bias (C,)."""
    invstd = _invstd(var, eps)
    for n in prange(x.shape[0]):
        _columns_bn_output(x[n], mean, invstd, weight, bias, False, y[n])


def _backward_rows(grad_out, x, mean, invstd, weight, bias, relu, through_stats,
                   grad_input, grad_weight, grad_bias):
    """Backward for L > 1: grad_out, x, grad_input (N, C, L); the others (C,)."""
    samples, channels, length = x.shape
    partial_grad = np.empty((samples, channels))
    partial_grad_x = np.empty((samples, channels))
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        total, total_x = _row_gradient_sums(grad_out[n, c], x[n, c], mean[c], invstd[c],
                                            weight[c], bias[c], relu)
        partial_grad[n, c] = total
        partial_grad_x[n, c] = total_x
    projection_scale, grad_mean, grad_scale = _finish_gradients(
        partial_grad, partial_grad_x, samples * length, invstd, weight, grad_weight, grad_bias)
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        _row_grad_input(grad_out[n, c], x[n, c], mean[c], invstd[c], weight[c], bias[c], relu,
                        through_stats, projection_scale[c], grad_mean[c], grad_scale[c],
                        grad_input[n, c])


def _backward_columns(grad_out, x, mean, invstd, weight, bias, relu, through_stats,
                      grad_input, grad_weight, grad_bias):
    """Backward for L == 1: grad_out, x, grad_input (N, C); the others (C,)."""
    samples, channels = x.shape
    blocks = _column_blocks(samples, channels)
    partial_grad = np.empty((blocks, channels))
    partial_grad_x = np.empty((blocks, channels))
    for block in prange(blocks):
        start, stop = block * samples // blocks, (block + 1) * samples // blocks
        _columns_gradient_sums(grad_out[start:stop], x[start:stop], mean, invstd, weight, bias,
                               relu, partial_grad[block], partial_grad_x[block])
    projection_scale, grad_mean, grad_scale = _finish_gradients(
        partial_grad, partial_grad_x, samples, invstd, weight, grad_weight, grad_bias)
    for n in prange(samples):
        _columns_grad_input(grad_out[n], x[n], mean, invstd, weight, bias, relu, through_stats,
                            projection_scale, grad_mean, grad_scale, grad_input[n])


# Each driver is written once and compiled twice: serial (prange runs as range) for small
# inputs, parallel for large ones.
_forward_train_rows_serial = jit(_forward_train_rows)
_forward_train_rows_parallel = jit_parallel(_forward_train_rows)
_forward_train_columns_serial = jit(_forward_train_columns)
_forward_train_columns_parallel = jit_parallel(_forward_train_columns)
_forward_eval_rows_serial = jit(_forward_eval_rows)
_forward_eval_rows_parallel = jit_parallel(_forward_eval_rows)
_forward_eval_columns_serial = jit(_forward_eval_columns)
_forward_eval_columns_parallel = jit_parallel(_forward_eval_columns)
_backward_rows_serial = jit(_backward_rows)
_backward_rows_parallel = jit_parallel(_backward_rows)
_backward_columns_serial = jit(_backward_columns)
_backward_columns_parallel = jit_parallel(_backward_columns)


# --- Python wrappers: contiguous inputs, outputs allocated, serial or parallel by size. -------

def _contiguous(*arrays):
    """C-contiguous versions (one compiled layout per kernel); no copy if already so."""
    return [np.ascontiguousarray(array) for array in arrays]


def _choose(x, rows_kernels, columns_kernels):
    """The kernel for x (N, C, L): rows (L > 1) or columns (L == 1), then serial or parallel
    by size (waking the thread pool costs more than small inputs take)."""
    serial, parallel = columns_kernels if x.shape[2] == 1 else rows_kernels
    return parallel if x.size >= PARALLEL_MIN_ELEMENTS else serial


def _as_kernel_layout(array):
    """The view the chosen kernel takes: (N, C, L) for rows, (N, C) for columns (L == 1)."""
    return array.reshape(array.shape[:2]) if array.shape[2] == 1 else array


def _forward_train(x, weight, bias, eps, relu):
    """The training forward, of bn (relu False) or relu(bn): (y, mean, invstd, var)."""
    x, weight, bias = _contiguous(x, weight, bias)
    if x.size == 0:  # nothing to compute; the reference gives NumPy's NaN statistics
        reference = (batch_norm_relu_forward_train_reference if relu
                     else batch_norm_forward_train_reference)
        return reference(x, weight, bias, eps)
    channels = x.shape[1]
    y = np.empty_like(x)
    mean, invstd, var = (np.empty(channels, x.dtype) for _ in range(3))
    kernel = _choose(x, (_forward_train_rows_serial, _forward_train_rows_parallel),
                     (_forward_train_columns_serial, _forward_train_columns_parallel))
    kernel(_as_kernel_layout(x), weight, bias, x.dtype.type(eps), relu, _as_kernel_layout(y),
           mean, invstd, var)
    return y, mean, invstd, var


def _backward(grad_out, x, mean, invstd, weight, bias, relu, through_stats):
    """The backward of bn or relu(bn) (relu), with batch statistics (through_stats) or with
    constant ones: (grad_input, grad_weight, grad_bias)."""
    grad_out, x, mean, invstd, weight, bias = _contiguous(grad_out, x, mean, invstd, weight,
                                                          bias)
    grad_input = np.empty_like(x)
    grad_weight = np.empty_like(weight)
    grad_bias = np.empty_like(weight)
    kernel = _choose(x, (_backward_rows_serial, _backward_rows_parallel),
                     (_backward_columns_serial, _backward_columns_parallel))
    kernel(_as_kernel_layout(grad_out), _as_kernel_layout(x), mean, invstd, weight, bias, relu,
           through_stats, _as_kernel_layout(grad_input), grad_weight, grad_bias)
    return grad_input, grad_weight, grad_bias


def batch_norm_forward_train_numba(x, weight, bias, eps):
    """Numba form of batch_norm_forward_train_reference (same arguments and results)."""
    return _forward_train(x, weight, bias, eps, relu=False)


def batch_norm_forward_eval_numba(x, mean, var, weight, bias, eps):
    """Numba form of batch_norm_forward_eval_reference (same arguments and results)."""
    x, mean, var, weight, bias = _contiguous(x, mean, var, weight, bias)
    y = np.empty_like(x)
    kernel = _choose(x, (_forward_eval_rows_serial, _forward_eval_rows_parallel),
                     (_forward_eval_columns_serial, _forward_eval_columns_parallel))
    kernel(_as_kernel_layout(x), mean, var, weight, bias, x.dtype.type(eps),
           _as_kernel_layout(y))
    return y


def batch_norm_backward_train_numba(grad_out, x, mean, invstd, weight):
    """Numba form of batch_norm_backward_train_reference (same arguments and results)."""
    unused_bias = np.zeros_like(weight)  # bias is read only to recompute a ReLU mask
    return _backward(grad_out, x, mean, invstd, weight, unused_bias, relu=False,
                     through_stats=True)


def batch_norm_backward_eval_numba(grad_out, x, mean, invstd, weight):
    """Numba form of batch_norm_backward_eval_reference (same arguments and results)."""
    unused_bias = np.zeros_like(weight)
    return _backward(grad_out, x, mean, invstd, weight, unused_bias, relu=False,
                     through_stats=False)


def batch_norm_relu_forward_train_numba(x, weight, bias, eps):
    """Numba form of batch_norm_relu_forward_train_reference: one pass for the statistics,
    one writing relu(bn(x))."""
    return _forward_train(x, weight, bias, eps, relu=True)


def batch_norm_relu_backward_train_numba(grad_out, x, mean, invstd, weight, bias):
    """Numba form of batch_norm_relu_backward_train_reference: the ReLU mask is recomputed
    from x inside both sweeps, so no pre-activation is stored or read."""
    return _backward(grad_out, x, mean, invstd, weight, bias, relu=True, through_stats=True)


KERNELS = {
    "batch_norm_forward_train": (batch_norm_forward_train_reference,
                                 batch_norm_forward_train_numba),
    "batch_norm_forward_eval": (batch_norm_forward_eval_reference,
                                batch_norm_forward_eval_numba),
    "batch_norm_backward_train": (batch_norm_backward_train_reference,
                                  batch_norm_backward_train_numba),
    "batch_norm_backward_eval": (batch_norm_backward_eval_reference,
                                 batch_norm_backward_eval_numba),
    "batch_norm_relu_forward_train": (batch_norm_relu_forward_train_reference,
                                      batch_norm_relu_forward_train_numba),
    "batch_norm_relu_backward_train": (batch_norm_relu_backward_train_reference,
                                       batch_norm_relu_backward_train_numba),
}
