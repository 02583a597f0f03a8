"""Softmax, log-softmax, fused softmax + cross-entropy, and squared error.

Softmax ops work on 2-D logits `x` of shape (N, C), normalising each row (C >= 1). Each row is
shifted by its maximum before `exp`, so no exponent exceeds 0 and nothing overflows
(logsumexp(x) = m + log(sum(exp(x - m))), m = max(x)). As in PyTorch, a row holding +inf or NaN
(or only -inf) comes out NaN, while a -inf logit among finite ones gets probability 0.

Fast path: the math of one row is a serial `@jit` function (`_softmax_row`, ...); each kernel
has a serial driver over rows (used below PARALLEL_MIN_ELEMENTS elements) and a `prange`
driver over rows, in which every row writes only its own outputs. The two drivers are separate
functions because one Python function jitted twice would share one entry in Numba's on-disk
cache, whose key does not record `parallel=True`. The exponentials are `_fastmath.exp`: for
float32, arithmetic that vectorises inside the row loops (libm's expf is a scalar call), for
float64 libm's math.exp as before.

Squared error is elementwise on arrays of any shape and reuses the elementwise wrapper of
`activations`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_parallel
from ._fastmath import exp
from .activations import _elementwise


# ---------------------------------------------------------------------------------------
# NumPy references: the math as written in the course notes; the test oracle.
# ---------------------------------------------------------------------------------------

def log_softmax_forward_reference(x: np.ndarray) -> np.ndarray:
    """y = x - logsumexp(x) per row. x, y: (N, C).

    logsumexp(x) = m + log(sum_j exp(x_j - m)) with m = max_j x_j, so y = (x - m) - log(sum).
    """
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def log_softmax_backward_reference(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dx = g - softmax(x) * sum_j g_j, with softmax(x) = exp(y). All arrays (N, C)."""
    return grad_out - np.exp(y) * grad_out.sum(axis=1, keepdims=True)


def softmax_forward_reference(x: np.ndarray) -> np.ndarray:
    """y = exp(x - m) / sum_j exp(x_j - m) per row, m = max_j x_j. x, y: (N, C)."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward_reference(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dx = y * (g - sum_j g_j y_j) per row (the softmax Jacobian diag(y) - y y^T applied
    to g). All arrays (N, C)."""
    return y * (grad_out - (grad_out * y).sum(axis=1, keepdims=True))


def softmax_cross_entropy_reference(logits: np.ndarray, target: np.ndarray
                                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample cross-entropy of logits and its gradient.

    logits: (N, C); target: (N,) int64 class indices in [0, C).
    Returns losses (N,) = logsumexp(logits_i) - logits_i[target_i] = -log_softmax(logits_i)[t_i]
    and grad_logits (N, C) = softmax(logits_i) - onehot(target_i), the gradient of each
    sample's own loss (the caller scales it for a mean or sum reduction).
    """
    rows = np.arange(logits.shape[0])
    losses = -log_softmax_forward_reference(logits)[rows, target]
    grad_logits = softmax_forward_reference(logits)
    grad_logits[rows, target] -= 1
    return losses, grad_logits


def squared_error_forward_reference(input: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(input - target)^2 elementwise. All arrays (*), the same shape."""
    return (input - target) ** 2


def squared_error_backward_reference(grad_out: np.ndarray, input: np.ndarray,
                                     target: np.ndarray) -> np.ndarray:
    """d/d input of (input - target)^2 = 2 (input - target), times grad_out. All arrays (*)."""
    return 2 * (input - target) * grad_out


# ---------------------------------------------------------------------------------------
# The math of one row (C,), shared by the serial and parallel drivers. The row sums (the
# softmax denominator, sum(g), sum(g * y)) accumulate in float64: a float32 running sum
# drifts with the row length (a softmax over 2^22 logits of 0.01*u had every probability
# 1e-4 off), while NumPy's pairwise float32 sums in the references do not. The sum is then
# rounded once to the array dtype, so the per-element arithmetic stays in that dtype
# (`one` arrives typed so float32 stays float32). The accumulators start as np.float64(0),
# not 0.0: run as Python (NUMBA_DISABLE_JIT=1), 0.0 plus a NumPy float32 is a float32
# (NumPy's promotion rules, NEP 50). Each row function is written out
# whole: splitting the exp-and-sum loop into a helper that writes the row cost 35% at
# (60, 10), where the call is not inlined.
# ---------------------------------------------------------------------------------------

@jit
def _row_max(x_row):
    """max of a row (C,). A plain loop: np.max costs more than the rest of a 10-wide row.
    A NaN is skipped here unless it comes first, but it still reaches the sum through exp."""
    row_max = x_row[0]
    for j in range(1, x_row.size):
        if x_row[j] > row_max:
            row_max = x_row[j]
    return row_max


@jit
def _log_softmax_row(x_row, y_row):
    row_max = _row_max(x_row)
    # The shifted logits go through memory on purpose: written as (x - m) - log_total in one
    # expression, the 'reassoc' flag lets LLVM compute (x - log_total) - m instead, which at
    # |x| ~ 1e4 in float32 loses everything below ulp(1e4) = 1e-3.
    for j in range(x_row.size):
        y_row[j] = x_row[j] - row_max
    total = np.float64(0)  # float64 (see above)
    for j in range(x_row.size):
        total += exp(y_row[j])
    log_total = y_row.dtype.type(math.log(total))
    for j in range(x_row.size):
        y_row[j] = y_row[j] - log_total


@jit
def _log_softmax_grad_row(g_row, y_row, out_row):
    g_sum = np.float64(0)  # float64 (see above)
    for j in range(g_row.size):
        g_sum += g_row[j]
    g_sum = g_row.dtype.type(g_sum)
    for j in range(g_row.size):
        out_row[j] = g_row[j] - exp(y_row[j]) * g_sum


@jit
def _softmax_row(x_row, y_row):
    row_max = _row_max(x_row)
    total = np.float64(0)  # float64 (see above)
    for j in range(x_row.size):
        e = exp(x_row[j] - row_max)
        y_row[j] = e
        total += e
    total = y_row.dtype.type(total)
    for j in range(x_row.size):
        y_row[j] = y_row[j] / total


@jit
def _softmax_grad_row(g_row, y_row, out_row):
    g_dot_y = np.float64(0)  # float64 (see above); the products stay in the row dtype
    for j in range(g_row.size):
        g_dot_y += g_row[j] * y_row[j]
    g_dot_y = y_row.dtype.type(g_dot_y)
    for j in range(g_row.size):
        out_row[j] = y_row[j] * (g_row[j] - g_dot_y)


@jit
def _softmax_cross_entropy_row(x_row, target, grad_row, one):
    """Write softmax(x_row) - onehot(target) into grad_row; return logsumexp - x[target]."""
    row_max = _row_max(x_row)
    # The loss is log(total) - (x_t - m) with the shifted logit read back from memory: in one
    # expression 'reassoc' lets LLVM form (log(total) - x_t) + m, which at |x| ~ 1e4 in
    # float32 rounds a loss of 0.31 to a multiple of ulp(1e4) = 1e-3 (see _log_softmax_row).
    for j in range(x_row.size):
        grad_row[j] = x_row[j] - row_max
    shifted_target = grad_row[target]
    total = np.float64(0)  # float64 (see above)
    for j in range(x_row.size):
        e = exp(grad_row[j])
        grad_row[j] = e
        total += e
    log_total = math.log(total)  # from the float64 sum: the loss is rounded once, on return
    total = grad_row.dtype.type(total)
    for j in range(x_row.size):
        grad_row[j] = grad_row[j] / total
    grad_row[target] -= one
    return log_total - shifted_target


# ---------------------------------------------------------------------------------------
# Drivers over the rows of C-contiguous (N, C) arrays, writing preallocated outputs.
# ---------------------------------------------------------------------------------------

@jit
def _log_softmax_forward_serial(x, y):
    for i in range(x.shape[0]):
        _log_softmax_row(x[i], y[i])


@jit_parallel
def _log_softmax_forward_parallel(x, y):
    for i in prange(x.shape[0]):
        _log_softmax_row(x[i], y[i])


@jit
def _log_softmax_backward_serial(grad_out, y, grad_in):
    for i in range(y.shape[0]):
        _log_softmax_grad_row(grad_out[i], y[i], grad_in[i])


@jit_parallel
def _log_softmax_backward_parallel(grad_out, y, grad_in):
    for i in prange(y.shape[0]):
        _log_softmax_grad_row(grad_out[i], y[i], grad_in[i])


@jit
def _softmax_forward_serial(x, y):
    for i in range(x.shape[0]):
        _softmax_row(x[i], y[i])


@jit_parallel
def _softmax_forward_parallel(x, y):
    for i in prange(x.shape[0]):
        _softmax_row(x[i], y[i])


@jit
def _softmax_backward_serial(grad_out, y, grad_in):
    for i in range(y.shape[0]):
        _softmax_grad_row(grad_out[i], y[i], grad_in[i])


@jit_parallel
def _softmax_backward_parallel(grad_out, y, grad_in):
    for i in prange(y.shape[0]):
        _softmax_grad_row(grad_out[i], y[i], grad_in[i])


@jit
def _softmax_cross_entropy_serial(logits, target, losses, grad_logits):
    one = logits.dtype.type(1)
    for i in range(logits.shape[0]):
        losses[i] = _softmax_cross_entropy_row(logits[i], target[i], grad_logits[i], one)


@jit_parallel
def _softmax_cross_entropy_parallel(logits, target, losses, grad_logits):
    one = logits.dtype.type(1)
    for i in prange(logits.shape[0]):
        losses[i] = _softmax_cross_entropy_row(logits[i], target[i], grad_logits[i], one)


@jit
def _squared_error(a, b):
    d = a - b
    return d * d


@jit
def _squared_error_grad(g, a, b, two):
    return two * (a - b) * g


@jit
def _squared_error_forward_serial(input, target, out):
    for i in range(out.size):
        out[i] = _squared_error(input[i], target[i])


@jit_parallel
def _squared_error_forward_parallel(input, target, out):
    for i in prange(out.size):
        out[i] = _squared_error(input[i], target[i])


@jit
def _squared_error_backward_serial(grad_out, input, target, out):
    two = input.dtype.type(2)
    for i in range(out.size):
        out[i] = _squared_error_grad(grad_out[i], input[i], target[i], two)


@jit_parallel
def _squared_error_backward_parallel(grad_out, input, target, out):
    two = input.dtype.type(2)
    for i in prange(out.size):
        out[i] = _squared_error_grad(grad_out[i], input[i], target[i], two)


# ---------------------------------------------------------------------------------------
# Python wrappers: same signatures as the references. Kept lean: at MNIST size (60, 10)
# the call overhead is most of the cost.
# ---------------------------------------------------------------------------------------

def _rowwise(serial, parallel, arrays):
    """Run a row kernel on C-contiguous copies/views of same-shaped (N, C) `arrays`; return a
    fresh (N, C) output. Rows run in parallel from PARALLEL_MIN_ELEMENTS elements on."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    out = np.empty_like(arrays[0])
    kernel = serial if out.size < PARALLEL_MIN_ELEMENTS else parallel
    kernel(*arrays, out)
    return out


def log_softmax_forward_numba(x: np.ndarray) -> np.ndarray:
    return _rowwise(_log_softmax_forward_serial, _log_softmax_forward_parallel, (x,))


def log_softmax_backward_numba(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _rowwise(_log_softmax_backward_serial, _log_softmax_backward_parallel, (grad_out, y))


def softmax_forward_numba(x: np.ndarray) -> np.ndarray:
    return _rowwise(_softmax_forward_serial, _softmax_forward_parallel, (x,))


def softmax_backward_numba(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _rowwise(_softmax_backward_serial, _softmax_backward_parallel, (grad_out, y))


def softmax_cross_entropy_numba(logits: np.ndarray, target: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    logits = np.ascontiguousarray(logits)
    target = np.ascontiguousarray(target)
    losses = np.empty(logits.shape[0], dtype=logits.dtype)
    grad_logits = np.empty_like(logits)
    kernel = (_softmax_cross_entropy_serial if logits.size < PARALLEL_MIN_ELEMENTS
              else _softmax_cross_entropy_parallel)
    kernel(logits, target, losses, grad_logits)
    return losses, grad_logits


def squared_error_forward_numba(input: np.ndarray, target: np.ndarray) -> np.ndarray:
    return _elementwise(_squared_error_forward_serial, _squared_error_forward_parallel,
                        (input, target))


def squared_error_backward_numba(grad_out: np.ndarray, input: np.ndarray,
                                 target: np.ndarray) -> np.ndarray:
    return _elementwise(_squared_error_backward_serial, _squared_error_backward_parallel,
                        (grad_out, input, target))


KERNELS = {
    "log_softmax_forward": (log_softmax_forward_reference, log_softmax_forward_numba),
    "log_softmax_backward": (log_softmax_backward_reference, log_softmax_backward_numba),
    "softmax_forward": (softmax_forward_reference, softmax_forward_numba),
    "softmax_backward": (softmax_backward_reference, softmax_backward_numba),
    "softmax_cross_entropy": (softmax_cross_entropy_reference, softmax_cross_entropy_numba),
    "squared_error_forward": (squared_error_forward_reference, squared_error_forward_numba),
    "squared_error_backward": (squared_error_backward_reference, squared_error_backward_numba),
}
