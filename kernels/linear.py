"""Fully connected layer, as torch.nn.functional.linear: y = x W^T + b.

Shapes follow PyTorch: x (N, in_features), weight (out_features, in_features),
bias (out_features,) or None, y (N, out_features). All arrays share one float dtype.

Backward, for a loss L with grad_out = dL/dy (N, out_features):
    grad_input  = dL/dx = grad_out @ W       (N, in_features)
    grad_weight = dL/dW = grad_out^T @ x     (out_features, in_features)
    grad_bias   = dL/db = sum_n grad_out[n]  (out_features,)

The Numba kernels hand every matrix product to BLAS: np.dot inside a kernel calls SciPy's
OpenBLAS, which _config keeps at one thread, because matrix products written as Numba loops
reach only 10-20% of BLAS speed (../shared/KERNELS.md). Products of about a million
multiply-adds and more are split into row blocks across Numba's threads, so only one thread
pool ever runs; smaller ones (60x100 @ 100x100) are one serial np.dot.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, prange

from ._config import jit, jit_parallel

# numba.get_num_threads() is called in the Python wrappers and passed in: called inside a
# kernel it makes the kernel uncacheable (Numba: "uses dynamic globals").

# From this many multiply-adds (N * in_features * out_features) on, the products are split over
# the threads. Measured forward+backward, float32, 2 cores, two threads against one: 0.55x at
# 6e4 (60x100 @ 100x10: forking costs more than the work), 1.15-1.35x at 6e5 (60x100 @ 100x100:
# 41 -> 30 us), 1.4-1.8x from 1e6 up (60x784 @ 784x100, MNIST's first layer: 1.4x). One
# thread does about 40 G multiply-adds/s, so this is about 13 us of work. (It was 2^20, which
# kept MNIST's 100x100 layers serial: lowering it took the whole MLP training step from
# 415 to 406 us, medians of interleaved rounds; the CNN-BN step, whose 1568->10 head (1.0e6)
# is now split too, stayed at 9.4 ms.)
PARALLEL_MIN_MACS = 1 << 19

# Layouts and np.dot inside Numba: np.dot(a, b, out) needs each of a, b to be typed 'C' or 'F'
# contiguous and `out` to be 'C'. An operand typed 'A' (any layout) is copied first, and an 'A'
# `out` would receive the result in a temporary copy that is then thrown away. x[r0:r1]
# (first axis only) stays 'C', the transpose of a 'C' array is 'F'; but x[r0:r1, :] is 'A'.


def linear_forward_reference(x, weight, bias):
    """y = x W^T + b, in plain NumPy.

    x (N, in_features), weight (out_features, in_features), bias (out_features,) or None.
    Returns y (N, out_features), same dtype as x.
    """
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y


def linear_backward_reference(grad_out, x, weight, needs_input_grad, needs_weight_grad,
                              has_bias):
    """Gradients of y = x W^T + b, in plain NumPy.

    grad_out (N, out_features) = dL/dy, x (N, in_features), weight (out_features, in_features).
    Returns (grad_input (N, in_features), grad_weight (out_features, in_features),
    grad_bias (out_features,)); each is None when its flag is False.
    """
    grad_input = grad_out @ weight if needs_input_grad else None
    grad_weight = grad_out.T @ x if needs_weight_grad else None
    # in float64: NumPy adds the rows of grad_out one after the other (pairwise summation
    # applies only along a contiguous axis), so a float32 sum would drift with N
    grad_bias = grad_out.sum(axis=0, dtype=np.float64).astype(grad_out.dtype) if has_bias else None
    return grad_input, grad_weight, grad_bias


@jit
def _linear_forward_rows(x, weight, bias, has_bias, y, row_start, row_stop):
    """y[rows] = x[rows] @ weight.T (+ bias) for rows row_start:row_stop; the serial kernel.

    x (N, in_features), weight (out_features, in_features), bias (out_features,) (read only
    when has_bias), y (N, out_features) output; all C-contiguous.
    """
    np.dot(x[row_start:row_stop], weight.T, y[row_start:row_stop])
    if has_bias:
        # Added while this block of y is still in cache.
        for i in range(row_start, row_stop):
            for j in range(y.shape[1]):
                y[i, j] += bias[j]


@jit
def _linear_forward_columns(x, weight, bias, has_bias, y, col_start, col_stop):
    """y[:, cols] = x @ weight[cols].T (+ bias[cols]) for output features col_start:col_stop.

    Arrays as in _linear_forward_rows. A column block of y is strided, which np.dot cannot
    write, so the product goes to a scratch block that the bias loop then copies into y.
    """
    width = col_stop - col_start
    block = np.empty((x.shape[0], width), dtype=y.dtype)
    np.dot(x, weight[col_start:col_stop].T, block)  # weight[cols] is 'C', its transpose 'F'
    for i in range(x.shape[0]):
        if has_bias:
            for j in range(width):
                y[i, col_start + j] = block[i, j] + bias[col_start + j]
        else:
            for j in range(width):
                y[i, col_start + j] = block[i, j]


@jit_parallel
def _linear_forward_parallel(x, weight, bias, has_bias, y, threads):
    """y = x @ weight.T (+ bias), one block of y per thread (threads >= 1).

    y is split along its longer side. With fewer rows than output features (MNIST: 60 x 100)
    a block of rows is a thin product that BLAS runs poorly: one thread computing 30x784 @
    784x100 took 95 us, 60x784 @ 784x50 67-79 us (the whole product: 148 us).
    """
    n, out_features = y.shape
    if out_features > n:
        n_blocks = min(threads, out_features)
        for block in prange(n_blocks):
            _linear_forward_columns(x, weight, bias, has_bias, y, block * out_features // n_blocks,
                                    (block + 1) * out_features // n_blocks)
    else:
        n_blocks = min(threads, n)
        for block in prange(n_blocks):
            _linear_forward_rows(x, weight, bias, has_bias, y,
                                 block * n // n_blocks, (block + 1) * n // n_blocks)


@jit
def _column_sums(grad_out, grad_bias):
    """grad_bias[j] = sum over the batch of grad_out[:, j].

    grad_out (N, out_features), grad_bias (out_features,) output. Accumulates in float64: a
    float32 running sum over a large batch would lose digits. N*out_features additions, small
    next to the products, so it runs serially.
    """
    sums = np.zeros(grad_out.shape[1], dtype=np.float64)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            sums[j] += grad_out[i, j]
    for j in range(grad_out.shape[1]):
        grad_bias[j] = sums[j]


@jit
def _linear_backward_serial(grad_out, x, weight, grad_input, grad_weight, grad_bias,
                            needs_input_grad, needs_weight_grad, has_bias):
    """grad_input = grad_out @ W, grad_weight = grad_out^T @ x, grad_bias = column sums of
    grad_out, each only when its flag is set.

    grad_out (N, out_features), x (N, in_features), weight (out_features, in_features); outputs
    grad_input (N, in_features), grad_weight (out_features, in_features), grad_bias
    (out_features,). All C-contiguous.
    """
    if needs_input_grad:
        np.dot(grad_out, weight, grad_input)
    if needs_weight_grad:
        np.dot(grad_out.T, x, grad_weight)  # grad_out.T is 'F': BLAS reads it in place
    if has_bias:
        _column_sums(grad_out, grad_bias)


@jit
def _linear_backward_task(task, input_tasks, weight_tasks, grad_out, x, weight, grad_input,
                          grad_weight):
    """One block of a backward product (arrays as in _linear_backward_serial).

    Tasks 0 .. input_tasks-1 each compute grad_input = grad_out @ W for a block of batch rows;
    the next weight_tasks each compute grad_weight = grad_out^T @ x for a block of output
    features (rows of grad_weight). Each task writes only its own rows.
    """
    if task < input_tasks:
        n = grad_out.shape[0]
        row_start = task * n // input_tasks
        row_stop = (task + 1) * n // input_tasks
        np.dot(grad_out[row_start:row_stop], weight, grad_input[row_start:row_stop])
        return
    if weight_tasks == 1:
        np.dot(grad_out.T, x, grad_weight)
        return
    n, out_features = grad_out.shape
    block = task - input_tasks
    col_start = block * out_features // weight_tasks
    col_stop = (block + 1) * out_features // weight_tasks
    # grad_weight[cols] = grad_out[:, cols]^T @ x. That column block of grad_out is strided,
    # which np.dot cannot take, so it is first transposed into a contiguous scratch:
    # N*len(cols) copies against in_features times as many multiply-adds.
    grad_out_t = np.empty((col_stop - col_start, n), dtype=grad_out.dtype)
    for i in range(n):
        for j in range(col_start, col_stop):
            grad_out_t[j - col_start, i] = grad_out[i, j]
    np.dot(grad_out_t, x, grad_weight[col_start:col_stop])


@jit_parallel
def _linear_backward_parallel(grad_out, x, weight, grad_input, grad_weight, grad_bias,
                              needs_input_grad, needs_weight_grad, has_bias, threads):
    """_linear_backward_serial with the products split into blocks over `threads` threads.

    grad_input and grad_weight cost N*in*out multiply-adds each, so the threads are shared
    equally between the products requested: on 2 threads one computes grad_input whole and the
    other grad_weight whole (no transposed copy); a lone product is split in two.
    """
    n, out_features = grad_out.shape
    products = max(1, int(needs_input_grad) + int(needs_weight_grad))
    blocks = max(1, threads // products)
    input_tasks = min(blocks, n) if needs_input_grad else 0
    weight_tasks = min(blocks, out_features) if needs_weight_grad else 0
    for task in prange(input_tasks + weight_tasks):
        _linear_backward_task(task, input_tasks, weight_tasks, grad_out, x, weight, grad_input,
                              grad_weight)
    if has_bias:
        _column_sums(grad_out, grad_bias)


def linear_forward_numba(x, weight, bias):
    """y = x W^T + b with BLAS in a Numba kernel; same signature and result as the reference."""
    x = np.ascontiguousarray(x)
    weight = np.ascontiguousarray(weight)
    has_bias = bias is not None
    # Without a bias the kernel gets an empty array it never reads, so a (dtype) pair compiles
    # once rather than once with and once without a bias.
    bias = np.ascontiguousarray(bias) if has_bias else np.empty(0, dtype=x.dtype)
    n, out_features = x.shape[0], weight.shape[0]
    y = np.empty((n, out_features), dtype=x.dtype)
    if n >= 2 and n * x.shape[1] * out_features >= PARALLEL_MIN_MACS:
        _linear_forward_parallel(x, weight, bias, has_bias, y, get_num_threads())
    else:
        _linear_forward_rows(x, weight, bias, has_bias, y, 0, n)
    return y


def linear_backward_numba(grad_out, x, weight, needs_input_grad, needs_weight_grad, has_bias):
    """Gradients of y = x W^T + b with BLAS in a Numba kernel; same signature and result as
    the reference: (grad_input, grad_weight, grad_bias), None where not requested."""
    grad_out = np.ascontiguousarray(grad_out)
    x = np.ascontiguousarray(x)
    weight = np.ascontiguousarray(weight)
    dtype = grad_out.dtype
    (n, out_features), in_features = grad_out.shape, x.shape[1]
    # Outputs that are not requested are empty arrays the kernel never touches (one compile).
    grad_input = np.empty((n, in_features) if needs_input_grad else (0, 0), dtype=dtype)
    grad_weight = np.empty((out_features, in_features) if needs_weight_grad else (0, 0),
                           dtype=dtype)
    grad_bias = np.empty(out_features if has_bias else 0, dtype=dtype)
    flags = bool(needs_input_grad), bool(needs_weight_grad), bool(has_bias)
    if n * in_features * out_features >= PARALLEL_MIN_MACS:
        _linear_backward_parallel(grad_out, x, weight, grad_input, grad_weight, grad_bias,
                                  *flags, get_num_threads())
    else:
        _linear_backward_serial(grad_out, x, weight, grad_input, grad_weight, grad_bias, *flags)
    return (grad_input if needs_input_grad else None,
            grad_weight if needs_weight_grad else None,
            grad_bias if has_bias else None)


KERNELS = {
    "linear_forward": (linear_forward_reference, linear_forward_numba),
    "linear_backward": (linear_backward_reference, linear_backward_numba),
}
