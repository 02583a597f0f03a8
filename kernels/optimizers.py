"""Optimizer updates, applied in place to one parameter array at a time: SGD, Adam/AdamW,
Adagrad, each with PyTorch's update rule.

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

Like every kernel, these trust their caller and check nothing: param, grad and the state
arrays (momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq, state_sum) must have one shape
and one float dtype, and be C-contiguous (reshape(-1) must give views), param and the state
writeable. The Numba loops index every array up to param.size, so a shorter gradient or
buffer would be read and written out of bounds. minidl.optim's Optimizer checks all of it for
the whole step before the first kernel runs (Optimizer._checked_step_inputs), and
load_state_dict checks loaded state the same way.
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
def _sgd_step_range(param, grad, momentum_buffer, hyperparameters, nesterov, first_step,
                    start, stop):
    """The SGD step on elements start:stop of 1-D param, grad, momentum_buffer; the serial
    kernel. hyperparameters: (lr, momentum, 1 - dampening, weight_decay), already in the
    parameter dtype (see sgd_step_numba for why they travel as one array).

    Each term of the update is its own branch-free loop over a chunk, so that each vectorises:
    one loop with the four `if`s inside compiled to scalar code, 5-10x slower.
    """
    lr, momentum = hyperparameters[0], hyperparameters[1]
    one_minus_dampening, weight_decay = hyperparameters[2], hyperparameters[3]
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
def _sgd_step_parallel(param, grad, momentum_buffer, hyperparameters, nesterov, first_step,
                       threads):
    """_sgd_step_range over all elements, one contiguous block per thread."""
    n = param.shape[0]
    for block in prange(threads):
        _sgd_step_range(param, grad, momentum_buffer, hyperparameters, nesterov, first_step,
                        block * n // threads, (block + 1) * n // threads)


def sgd_step_numba(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                   nesterov, first_step):
    """One SGD step as a Numba kernel, in place; same signature and result as the reference.

    The caller passes C-contiguous arrays of one dtype, so reshape(-1) gives views and the
    kernel writes straight into param and momentum_buffer (1-D to 4-D all compile once).
    """
    flat_param = param.reshape(-1)
    # With momentum == 0 the buffer is never touched; passing the parameter in its place keeps
    # one compiled signature whatever the caller sends (an empty array, a stale buffer...).
    flat_buffer = momentum_buffer.reshape(-1) if momentum != 0 else flat_param
    # The four hyperparameters, rounded to the parameter dtype, in one small array: one
    # conversion instead of four NumPy scalars and three fewer arguments for Numba's dispatcher
    # to type (this wrapper runs once per parameter per step: 2.5 -> 1.9 us a call, measured on
    # a 100-element bias). 1 - dampening is computed in Python double first, as before.
    hyperparameters = np.array((lr, momentum, 1 - dampening, weight_decay), dtype=param.dtype)
    args = (flat_param, grad.reshape(-1), flat_buffer, hyperparameters, bool(nesterov),
            bool(first_step))
    if flat_param.size >= PARALLEL_MIN_ELEMENTS:
        _sgd_step_parallel(*args, get_num_threads())
    else:
        _sgd_step_range(*args, 0, flat_param.size)


def adam_step_reference(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2,
                        eps, weight_decay, decoupled_weight_decay, amsgrad, step):
    """One Adam step (Kingma & Ba 2015) in place, as torch.optim.Adam / AdamW compute it.

        param *= 1 - lr * weight_decay            (AdamW: decoupled weight decay)
        g = grad + weight_decay * param           (Adam: L2 penalty in the gradient)
        m = m + (1 - beta1) * (g - m)             (first moment, exp_avg)
        v = beta2 * v + (1 - beta2) * g * g       (second moment, exp_avg_sq)
        v_max = max(v_max, v)                     (amsgrad only)
        param -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)

    All arrays of param's shape and dtype; max_exp_avg_sq is used only with amsgrad. step is
    t, the number of this step (1 on the first). Returns None.
    """
    scalar = param.dtype.type
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= scalar(1 - lr * weight_decay)
        else:
            grad = grad + scalar(weight_decay) * param
    exp_avg += scalar(1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= scalar(beta2)
    exp_avg_sq += scalar(1 - beta2) * grad * grad
    second_moment = exp_avg_sq
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    denom = np.sqrt(second_moment) / scalar(bias_correction2_sqrt) + scalar(eps)
    param -= scalar(step_size) * (exp_avg / denom)


@jit
def _adam_step_range(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, weight_decay,
                     decay_factor, one_minus_beta1, beta2, one_minus_beta2, eps, step_size,
                     bias_correction2_sqrt, decoupled_weight_decay, amsgrad, start, stop):
    """The Adam step on elements start:stop of the 1-D arrays (scalars in param's dtype)."""
    for i in range(start, stop):
        g = grad[i]
        if weight_decay != 0:
            if decoupled_weight_decay:
                param[i] = param[i] * decay_factor
            else:
                g = g + weight_decay * param[i]
        exp_avg[i] = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
        exp_avg_sq[i] = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g
        second_moment = exp_avg_sq[i]
        if amsgrad:
            max_exp_avg_sq[i] = max(max_exp_avg_sq[i], second_moment)
            second_moment = max_exp_avg_sq[i]
        denom = np.sqrt(second_moment) / bias_correction2_sqrt + eps
        param[i] = param[i] - step_size * (exp_avg[i] / denom)


@jit_parallel
def _adam_step_parallel(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, weight_decay,
                        decay_factor, one_minus_beta1, beta2, one_minus_beta2, eps, step_size,
                        bias_correction2_sqrt, decoupled_weight_decay, amsgrad, threads):
    """_adam_step_range over all elements, one contiguous block per thread."""
    n = param.shape[0]
    for block in prange(threads):
        _adam_step_range(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, weight_decay,
                         decay_factor, one_minus_beta1, beta2, one_minus_beta2, eps, step_size,
                         bias_correction2_sqrt, decoupled_weight_decay, amsgrad,
                         block * n // threads, (block + 1) * n // threads)


def adam_step_numba(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                    weight_decay, decoupled_weight_decay, amsgrad, step):
    """One Adam/AdamW step as a Numba kernel, in place; same signature as the reference.
    The caller passes checked arrays (see the module documentation)."""
    scalar = param.dtype.type
    flat_param = param.reshape(-1)
    flat_max = max_exp_avg_sq.reshape(-1) if amsgrad else flat_param  # untouched otherwise
    args = (flat_param, grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1), flat_max,
            scalar(weight_decay), scalar(1 - lr * weight_decay), scalar(1 - beta1),
            scalar(beta2), scalar(1 - beta2), scalar(eps), scalar(lr / (1 - beta1 ** step)),
            scalar((1 - beta2 ** step) ** 0.5), bool(decoupled_weight_decay), bool(amsgrad))
    if flat_param.size >= PARALLEL_MIN_ELEMENTS:
        _adam_step_parallel(*args, get_num_threads())
    else:
        _adam_step_range(*args, 0, flat_param.size)


def adagrad_step_reference(param, grad, state_sum, clr, weight_decay, eps):
    """One Adagrad step (Duchi et al. 2011) in place, as torch.optim.Adagrad computes it.

        g = grad + weight_decay * param
        sum += g * g
        param -= clr * g / (sqrt(sum) + eps)

    clr is the decayed rate lr / (1 + (t - 1) * lr_decay), computed by the caller. All arrays
    of param's shape and dtype. Returns None.
    """
    scalar = param.dtype.type
    if weight_decay != 0:
        grad = grad + scalar(weight_decay) * param
    state_sum += grad * grad
    param -= scalar(clr) * (grad / (np.sqrt(state_sum) + scalar(eps)))


@jit
def _adagrad_step_range(param, grad, state_sum, clr, weight_decay, eps, start, stop):
    """The Adagrad step on elements start:stop of the 1-D arrays (scalars in param's dtype)."""
    for i in range(start, stop):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        state_sum[i] = state_sum[i] + g * g
        param[i] = param[i] - clr * (g / (np.sqrt(state_sum[i]) + eps))


@jit_parallel
def _adagrad_step_parallel(param, grad, state_sum, clr, weight_decay, eps, threads):
    """_adagrad_step_range over all elements, one contiguous block per thread."""
    n = param.shape[0]
    for block in prange(threads):
        _adagrad_step_range(param, grad, state_sum, clr, weight_decay, eps,
                            block * n // threads, (block + 1) * n // threads)


def adagrad_step_numba(param, grad, state_sum, clr, weight_decay, eps):
    """One Adagrad step as a Numba kernel, in place; same signature as the reference.
    The caller passes checked arrays (see the module documentation)."""
    scalar = param.dtype.type
    args = (param.reshape(-1), grad.reshape(-1), state_sum.reshape(-1), scalar(clr),
            scalar(weight_decay), scalar(eps))
    if param.size >= PARALLEL_MIN_ELEMENTS:
        _adagrad_step_parallel(*args, get_num_threads())
    else:
        _adagrad_step_range(*args, 0, param.size)


KERNELS = {
    "sgd_step": (sgd_step_reference, sgd_step_numba),
    "adam_step": (adam_step_reference, adam_step_numba),
    "adagrad_step": (adagrad_step_reference, adagrad_step_numba),
}
