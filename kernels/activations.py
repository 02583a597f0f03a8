"""Elementwise activations (ReLU, LeakyReLU, ELU, sigmoid, tanh) and their gradients.

Every op works on an array of any shape: the Numba wrapper takes a C-contiguous flat view
(a copy only when the input is not contiguous), runs the kernel over the flat array and
reshapes the result back. Shapes below: `x`, `y`, `grad_out` and `grad_in` all share the
input's shape `(*)`; `y` is the forward output that the backward pass reuses.

Semantics follow PyTorch 2.x, also at the edges: relu(NaN) = NaN; the gradient at exactly 0
is the "x <= 0" branch (0 for ReLU, negative_slope for LeakyReLU, alpha for ELU). At a NaN
input the gradient is grad_out for ReLU and negative_slope * grad_out for LeakyReLU (PyTorch's
comparisons send NaN there), and NaN for ELU, sigmoid and tanh.

Layout of the fast path: the math of one element is a small serial `@jit` function
(`_relu`, `_sigmoid`, ...); each kernel has a serial driver (`..._serial`, used below
PARALLEL_MIN_ELEMENTS) and a `prange` driver (`..._parallel`) that both call it. The two
drivers are separate functions on purpose: one Python function jitted twice would share a
single entry in Numba's on-disk cache, whose key does not record `parallel=True`.
The one exception is tanh's forward pass, which stays NumPy's SIMD ufunc (see its wrapper).
Sigmoid and ELU take exp/expm1 from `_fastmath`: for float32 these are arithmetic that LLVM
vectorises inside the loop (within 0.51 ulp of the exact value; libm's expf is a scalar call,
about 2.7 ns per element here); for float64 they are libm's math.exp/math.expm1, as before.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_parallel
from ._fastmath import exp, expm1


# ---------------------------------------------------------------------------------------
# NumPy references: the math as written in the course notes; the test oracle.
# ---------------------------------------------------------------------------------------

def relu_forward_reference(x: np.ndarray) -> np.ndarray:
    """relu(x) = max(x, 0). x, y: (*). np.maximum propagates NaN, as PyTorch does."""
    return np.maximum(x, 0)


def relu_backward_reference(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d relu / dx = 0 where x <= 0, else 1 (PyTorch's choice at 0). All arrays (*)."""
    return np.where(x <= 0, 0, grad_out)


def leaky_relu_forward_reference(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """leaky_relu(x) = x if x > 0 else negative_slope * x. x, y: (*)."""
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_backward_reference(grad_out: np.ndarray, x: np.ndarray,
                                  negative_slope: float) -> np.ndarray:
    """d leaky_relu / dx = 1 if x > 0 else negative_slope. All arrays (*)."""
    return np.where(x > 0, grad_out, negative_slope * grad_out)


def elu_forward_reference(x: np.ndarray, alpha: float) -> np.ndarray:
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1)  (Clevert et al. 2016). x, y: (*).

    expm1 keeps accuracy near 0; min(x, 0) keeps exp from overflowing in the branch that
    np.where discards.
    """
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward_reference(grad_out: np.ndarray, x: np.ndarray, y: np.ndarray,
                           alpha: float) -> np.ndarray:
    """d elu / dx = 1 if x > 0 else alpha * exp(x) = y + alpha. All arrays (*).

    At a NaN input the gradient is NaN (y is NaN). PyTorch 2.x gives NaN there in its
    vectorised loop but grad_out in its scalar tail; NaN is the one that does not hide it.
    """
    return np.where(x > 0, grad_out, grad_out * (y + alpha))


def sigmoid_forward_reference(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + exp(-x)). x, y: (*).

    Evaluated through e = exp(-|x|) <= 1, which never overflows: 1 / (1 + e) for x >= 0 and
    e / (1 + e) = 1 / (1 + exp(-x)) for x < 0.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward_reference(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d sigmoid / dx = y * (1 - y), from the forward output y. All arrays (*)."""
    return grad_out * y * (1 - y)


def tanh_forward_reference(x: np.ndarray) -> np.ndarray:
    """tanh(x). x, y: (*)."""
    return np.tanh(x)


def tanh_backward_reference(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d tanh / dx = 1 - y^2, from the forward output y. All arrays (*).

    Factored as (1 - y)(1 + y): when |y| is near 1, 1 - y is exact, whereas 1 - y*y would
    lose the digits of y*y that cancel.
    """
    return grad_out * ((1 - y) * (1 + y))


# ---------------------------------------------------------------------------------------
# The math of one element, shared by the serial and parallel drivers. Constants arrive
# typed (`zero`, `one` of the array dtype) so float32 never promotes to float64.
# ---------------------------------------------------------------------------------------

@jit
def _relu(v, zero):
    # `v < 0` (not `v > 0`) so that NaN, for which every comparison is False, stays NaN.
    return zero if v < 0 else v


@jit
def _relu_grad(g, v, zero):
    return zero if v <= 0 else g


@jit
def _leaky_relu(v, negative_slope):
    return v if v > 0 else negative_slope * v


@jit
def _leaky_relu_grad(g, v, negative_slope):
    return g if v > 0 else negative_slope * g


@jit
def _elu(v, alpha):
    return v if v > 0 else alpha * expm1(v)


@jit
def _elu_grad(g, v, y, alpha):
    return g if v > 0 else g * (y + alpha)


@jit
def _sigmoid(v, one):
    e = exp(-abs(v))  # <= 1: no overflow for any v
    # one division whichever the sign: the same values as 1/(1+e) or e/(1+e)
    return (one if v >= 0 else e) / (one + e)


@jit
def _sigmoid_grad(g, y, one):
    return g * y * (one - y)


@jit
def _tanh_grad(g, y, one):
    return g * ((one - y) * (one + y))


# ---------------------------------------------------------------------------------------
# Drivers over flat C-contiguous arrays (n,), writing into a preallocated `out` (n,).
# ---------------------------------------------------------------------------------------

@jit
def _relu_forward_serial(x, out):
    zero = x.dtype.type(0)
    for i in range(x.size):
        out[i] = _relu(x[i], zero)


@jit_parallel
def _relu_forward_parallel(x, out):
    zero = x.dtype.type(0)
    for i in prange(x.size):
        out[i] = _relu(x[i], zero)


@jit
def _relu_backward_serial(grad_out, x, out):
    zero = x.dtype.type(0)
    for i in range(x.size):
        out[i] = _relu_grad(grad_out[i], x[i], zero)


@jit_parallel
def _relu_backward_parallel(grad_out, x, out):
    zero = x.dtype.type(0)
    for i in prange(x.size):
        out[i] = _relu_grad(grad_out[i], x[i], zero)


@jit
def _leaky_relu_forward_serial(x, negative_slope, out):
    for i in range(x.size):
        out[i] = _leaky_relu(x[i], negative_slope)


@jit_parallel
def _leaky_relu_forward_parallel(x, negative_slope, out):
    for i in prange(x.size):
        out[i] = _leaky_relu(x[i], negative_slope)


@jit
def _leaky_relu_backward_serial(grad_out, x, negative_slope, out):
    for i in range(x.size):
        out[i] = _leaky_relu_grad(grad_out[i], x[i], negative_slope)


@jit_parallel
def _leaky_relu_backward_parallel(grad_out, x, negative_slope, out):
    for i in prange(x.size):
        out[i] = _leaky_relu_grad(grad_out[i], x[i], negative_slope)


@jit
def _elu_forward_serial(x, alpha, out):
    for i in range(x.size):
        out[i] = _elu(x[i], alpha)


@jit_parallel
def _elu_forward_parallel(x, alpha, out):
    for i in prange(x.size):
        out[i] = _elu(x[i], alpha)


@jit
def _elu_backward_serial(grad_out, x, y, alpha, out):
    for i in range(x.size):
        out[i] = _elu_grad(grad_out[i], x[i], y[i], alpha)


@jit_parallel
def _elu_backward_parallel(grad_out, x, y, alpha, out):
    for i in prange(x.size):
        out[i] = _elu_grad(grad_out[i], x[i], y[i], alpha)


@jit
def _sigmoid_forward_serial(x, out):
    one = x.dtype.type(1)
    for i in range(x.size):
        out[i] = _sigmoid(x[i], one)


@jit_parallel
def _sigmoid_forward_parallel(x, out):
    one = x.dtype.type(1)
    for i in prange(x.size):
        out[i] = _sigmoid(x[i], one)


@jit
def _sigmoid_backward_serial(grad_out, y, out):
    one = y.dtype.type(1)
    for i in range(y.size):
        out[i] = _sigmoid_grad(grad_out[i], y[i], one)


@jit_parallel
def _sigmoid_backward_parallel(grad_out, y, out):
    one = y.dtype.type(1)
    for i in prange(y.size):
        out[i] = _sigmoid_grad(grad_out[i], y[i], one)


@jit
def _tanh_backward_serial(grad_out, y, out):
    one = y.dtype.type(1)
    for i in range(y.size):
        out[i] = _tanh_grad(grad_out[i], y[i], one)


@jit_parallel
def _tanh_backward_parallel(grad_out, y, out):
    one = y.dtype.type(1)
    for i in prange(y.size):
        out[i] = _tanh_grad(grad_out[i], y[i], one)


# ---------------------------------------------------------------------------------------
# Python wrappers: same signatures as the references.
# ---------------------------------------------------------------------------------------

def _elementwise(serial, parallel, arrays, scalars=()):
    """Run an elementwise kernel on same-shaped `arrays`, return an output of that shape.

    Each array becomes a flat C-contiguous view (copied only if not contiguous); `scalars`
    (already of the array dtype) follow the arrays, then the fresh output. Below
    PARALLEL_MIN_ELEMENTS elements the serial kernel runs: waking threads costs more.
    """
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    out = np.empty_like(flat[0])
    kernel = serial if out.size < PARALLEL_MIN_ELEMENTS else parallel
    kernel(*flat, *scalars, out)
    return out.reshape(arrays[0].shape)


def relu_forward_numba(x: np.ndarray) -> np.ndarray:
    return _elementwise(_relu_forward_serial, _relu_forward_parallel, (x,))


def relu_backward_numba(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    return _elementwise(_relu_backward_serial, _relu_backward_parallel, (grad_out, x))


def leaky_relu_forward_numba(x: np.ndarray, negative_slope: float) -> np.ndarray:
    return _elementwise(_leaky_relu_forward_serial, _leaky_relu_forward_parallel, (x,),
                        (x.dtype.type(negative_slope),))


def leaky_relu_backward_numba(grad_out: np.ndarray, x: np.ndarray,
                              negative_slope: float) -> np.ndarray:
    return _elementwise(_leaky_relu_backward_serial, _leaky_relu_backward_parallel,
                        (grad_out, x), (x.dtype.type(negative_slope),))


def elu_forward_numba(x: np.ndarray, alpha: float) -> np.ndarray:
    return _elementwise(_elu_forward_serial, _elu_forward_parallel, (x,),
                        (x.dtype.type(alpha),))


def elu_backward_numba(grad_out: np.ndarray, x: np.ndarray, y: np.ndarray,
                       alpha: float) -> np.ndarray:
    return _elementwise(_elu_backward_serial, _elu_backward_parallel, (grad_out, x, y),
                        (x.dtype.type(alpha),))


def sigmoid_forward_numba(x: np.ndarray) -> np.ndarray:
    return _elementwise(_sigmoid_forward_serial, _sigmoid_forward_parallel, (x,))


def sigmoid_backward_numba(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _elementwise(_sigmoid_backward_serial, _sigmoid_backward_parallel, (grad_out, y))


def tanh_forward_numba(x: np.ndarray) -> np.ndarray:
    # NumPy's tanh is SIMD-vectorised (about 0.4 ns per float32 element here); inside Numba,
    # math.tanh is a scalar libm call (about 16 ns), 25-40x slower even on two threads.
    # So the fast path is the ufunc itself (C-ordered output, like the other wrappers).
    return np.tanh(x, order="C")


def tanh_backward_numba(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _elementwise(_tanh_backward_serial, _tanh_backward_parallel, (grad_out, y))


KERNELS = {
    "relu_forward": (relu_forward_reference, relu_forward_numba),
    "relu_backward": (relu_backward_reference, relu_backward_numba),
    "leaky_relu_forward": (leaky_relu_forward_reference, leaky_relu_forward_numba),
    "leaky_relu_backward": (leaky_relu_backward_reference, leaky_relu_backward_numba),
    "elu_forward": (elu_forward_reference, elu_forward_numba),
    "elu_backward": (elu_backward_reference, elu_backward_numba),
    "sigmoid_forward": (sigmoid_forward_reference, sigmoid_forward_numba),
    "sigmoid_backward": (sigmoid_backward_reference, sigmoid_backward_numba),
    "tanh_forward": (tanh_forward_reference, tanh_forward_numba),
    "tanh_backward": (tanh_backward_reference, tanh_backward_numba),
}
