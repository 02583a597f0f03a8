"""Float64 central-difference gradient checks along random directions (Chainer's approach)."""
from __future__ import annotations

import numpy as np

import minidl


def check_gradients(function, inputs, rng, eps=1e-6, rtol=1e-6, atol=1e-8, directions=2):
    """Compare autograd with finite differences for `function(*inputs) -> Tensor`.

    The output is reduced with a fixed random weighting w, L = sum(w * f(x)); for random
    unit directions v over all inputs, (L(x + eps v) - L(x - eps v)) / (2 eps) must equal the
    sum over inputs of <dL/dx, v>.
    """
    for tensor in inputs:
        assert tensor.dtype == np.float64, "gradient checks run in float64"
        tensor.grad = None
    output = function(*inputs)
    weights = rng.standard_normal(output.shape)
    output.backward(weights)
    analytic = [t.grad.data.copy() for t in inputs]
    originals = [t.data.copy() for t in inputs]

    def loss_at(offsets, sign):
        with minidl.no_grad():
            for tensor, original, offset in zip(inputs, originals, offsets):
                tensor.data = original + sign * eps * offset
            value = float(np.sum(weights * function(*inputs).data))
        for tensor, original in zip(inputs, originals):
            tensor.data = original
        return value

    for _ in range(directions):
        offsets = [rng.standard_normal(t.shape) for t in inputs]
        numeric = (loss_at(offsets, +1) - loss_at(offsets, -1)) / (2 * eps)
        predicted = sum(float(np.sum(g * v)) for g, v in zip(analytic, offsets))
        assert np.isclose(predicted, numeric, rtol=rtol, atol=atol), (predicted, numeric)
