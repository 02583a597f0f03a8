"""Float64 central-difference gradient checks along random directions (Chainer's approach):
the tests' shorthand for minidl.autograd.gradcheck(..., fast_mode=True)."""
from __future__ import annotations

import numpy as np

import minidl


def check_gradients(function, inputs, rng, eps=1e-6, rtol=1e-6, atol=1e-8, directions=2):
    """Compare autograd with finite differences for `function(*inputs) -> Tensor`.

    For each of `directions` draws: a random weighting w of the output and a random direction
    v over all inputs; (L(x + eps v) - L(x - eps v)) / (2 eps) with L = sum(w * f(x)) must
    equal the sum over inputs of <dL/dx, v> (see minidl.autograd.gradcheck's fast_mode).
    """
    for tensor in inputs:
        assert tensor.dtype == np.float64, "gradient checks run in float64"
        assert tensor.requires_grad, "every input of a gradient check requires grad"
    for _ in range(directions):
        minidl.autograd.gradcheck(function, inputs, eps=eps, rtol=rtol, atol=atol,
                                  fast_mode=True, generator=rng)
