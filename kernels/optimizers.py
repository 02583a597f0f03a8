"""Optimizer updates, applied in place to one parameter array at a time.

SGD follows PyTorch's torch/optim/sgd.py (_single_tensor_sgd, maximize=False) exactly:

    g = grad + weight_decay * param                     (only if weight_decay != 0)
    if momentum != 0:
        buf = g                                         (first step: buffer seeded, no dampening)
        buf = momentum * buf + (1 - dampening) * g      (later steps)
        g = g + momentum * buf   if nesterov   else   buf
    param = param - lr * g

Hyperparameters are rounded to the parameter dtype first, as PyTorch does with `alpha`
(1 - dampening is computed in Python double, then rounded), and the float arithmetic runs
in the same order as PyTorch's.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_parallel


def sgd_step_reference(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                       nesterov, first_step):
    """One SGD step in plain NumPy, in place: updates param (and momentum_buffer if momentum).

    param, grad, momentum_buffer: arrays of one shape and float dtype (momentum_buffer is
    neither read nor written when momentum == 0). first_step: seed the buffer with the
    gradient (PyTorch: the parameter has no buffer yet). Returns None.
    """
    scalar = param.dtype.type  # hyperparameters in the parameter dtype: no float64 promotion
    d_p = grad
    if weight_decay != 0:
        d_p = d_p + scalar(weight_decay) * param  # L2 penalty added to the gradient
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = d_p
        else:
            momentum_buffer *= scalar(momentum)
            momentum_buffer += scalar(1 - dampening) * d_p
        if nesterov:
            d_p = d_p + scalar(momentum) * momentum_buffer
        else:
            d_p = momentum_buffer
    param -= scalar(lr) * d_p


# Elements per pass of the inner loops: the float32 scratch (8 KB) and the chunk of each operand
# stay in L1 cache between passes.
_CHUNK = 2048


@jit
def _sgd_step_range(param, grad, momentum_buffer, lr, momentum, one_minus_dampening,
                    weight_decay, nesterov, first_step, start, stop):
    """The SGD step on elements start:stop of 1-D param, grad, momentum_buffer; the serial
    kernel. Scalars are already in the parameter dtype.

    Each term of the update is its own branch-free loop over a chunk, so that each vectorises:
    one loop with the four `if`s inside compiled to scalar code, 5-10x slower.
    """
    d_p = np.empty(min(_CHUNK, stop - start), dtype=param.dtype)
    for chunk_start in range(start, stop, _CHUNK):
        size = min(_CHUNK, stop - chunk_start)
        p = param[chunk_start:chunk_start + size]
        g = grad[chunk_start:chunk_start + size]
        buf = momentum_buffer[chunk_start:chunk_start + size]
        if weight_decay != 0:  # skipped, as in PyTorch: 0 * inf would turn an inf param to NaN
            for k in range(size):
                d_p[k] = g[k] + weight_decay * p[k]
        else:
            for k in range(size):  # explicit loops: Numba's slice assignment does not vectorise
                d_p[k] = g[k]
        if momentum != 0:
            if first_step:
                for k in range(size):
                    buf[k] = d_p[k]
            else:
                for k in range(size):
                    buf[k] = momentum * buf[k] + one_minus_dampening * d_p[k]
            if nesterov:
                for k in range(size):
                    d_p[k] = d_p[k] + momentum * buf[k]
            else:
                for k in range(size):
                    d_p[k] = buf[k]
        for k in range(size):
            p[k] = p[k] - lr * d_p[k]


@jit_parallel
def _sgd_step_parallel(param, grad, momentum_buffer, lr, momentum, one_minus_dampening,
                       weight_decay, nesterov, first_step, threads):
    """_sgd_step_range over all elements, one contiguous block per thread."""
    n = param.shape[0]
    for block in prange(threads):
        _sgd_step_range(param, grad, momentum_buffer, lr, momentum, one_minus_dampening,
                        weight_decay, nesterov, first_step,
                        block * n // threads, (block + 1) * n // threads)


def sgd_step_numba(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                   nesterov, first_step):
    """One SGD step as a Numba kernel, in place; same signature and result as the reference.

    The caller passes C-contiguous arrays of one dtype, so reshape(-1) gives views and the
    kernel writes straight into param and momentum_buffer (1-D to 4-D all compile once).
    """
    scalar = param.dtype.type
    flat_param = param.reshape(-1)
    # With momentum == 0 the buffer is never touched; passing the parameter in its place keeps
    # one compiled signature whatever the caller sends (an empty array, a stale buffer...).
    flat_buffer = momentum_buffer.reshape(-1) if momentum != 0 else flat_param
    args = (flat_param, grad.reshape(-1), flat_buffer, scalar(lr), scalar(momentum),
            scalar(1 - dampening), scalar(weight_decay), bool(nesterov), bool(first_step))
    if flat_param.size >= PARALLEL_MIN_ELEMENTS:
        _sgd_step_parallel(*args, get_num_threads())
    else:
        _sgd_step_range(*args, 0, flat_param.size)


KERNELS = {
    "sgd_step": (sgd_step_reference, sgd_step_numba),
}
