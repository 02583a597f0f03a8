"""gradcheck: autograd's gradients against central finite differences, in float64."""
from __future__ import annotations

import numpy as np

from . import engine
from .functional import grad
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Autograd and finite differences disagree (PyTorch's torch.autograd.GradcheckError)."""


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False,
              generator: np.random.Generator | None = None) -> bool:
    """Check the gradients of `func(*inputs)` against central differences, as PyTorch's.

    Every input that requires grad must be a float64 Tensor. Full mode (the default) builds
    each Jacobian twice, row by row with autograd.grad and column by column with
    (f(x + eps e_j) - f(x - eps e_j)) / (2 eps), and requires |analytical - numerical| <=
    atol + rtol * |numerical| for every element; the error names the worst one. fast_mode
    checks one number instead (Chainer's and PyTorch's fast check): v . J u for a random
    weighting v of the outputs and a random direction u over all inputs at once, drawn from
    `generator` (default: minidl's, seeded by manual_seed).

    Returns True; on a mismatch raises GradcheckError (or returns False when
    raise_exception=False).

    Example:
        >>> x = minidl.randn(3, 4, dtype=minidl.float64, requires_grad=True)
        >>> minidl.autograd.gradcheck(lambda t: (t * t).sum(dim=1), (x,))
        True
    """
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    checked = _checked_inputs(inputs)
    try:
        if fast_mode:
            _check_direction(func, inputs, checked, eps, atol, rtol, _generator(generator))
        else:
            _check_jacobians(func, inputs, checked, eps, atol, rtol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _checked_inputs(inputs: tuple) -> list:
    """The positions of the inputs that require grad (the ones differentiated)."""
    checked = []
    for position, tensor in enumerate(inputs):
        if not (isinstance(tensor, engine.Tensor) and tensor.requires_grad):
            continue
        if tensor.dtype != np.float64:
            raise TypeError(f"gradcheck: input {position} requires grad and is {tensor.dtype}; "
                            f"expected float64, since central differences in float32 are "
                            f"dominated by rounding (use .double())")
        if not tensor.data.flags.writeable:
            raise ValueError(f"gradcheck: input {position} is read-only (an expand() view?), "
                             f"so it cannot be perturbed; pass a clone()")
        checked.append(position)
    if not checked:
        raise ValueError("gradcheck: expected at least one input that requires grad, got none")
    return checked


def _generator(generator):
    if generator is None:
        from ..random import default_generator
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"gradcheck: expected generator to be a numpy.random.Generator, got "
                        f"{type(generator).__name__}")
    return generator


def _outputs(func, inputs: tuple) -> tuple:
    """func's outputs as a tuple of Tensors."""
    result = func(*inputs)
    outputs = result if isinstance(result, (list, tuple)) else (result,)
    for position, output in enumerate(outputs):
        if not isinstance(output, engine.Tensor):
            raise TypeError(f"gradcheck: expected func to return a Tensor or a tuple of "
                            f"Tensors, got {type(output).__name__} at position {position}")
    return tuple(outputs)


def _values_at(func, inputs, position: int, flat_index: int, value: float) -> list:
    """The output arrays with inputs[position].flat[flat_index] set to `value` (then restored)."""
    data = inputs[position].data
    original = data.flat[flat_index]
    data.flat[flat_index] = value
    try:
        with no_grad():
            return [output.data.astype(np.float64) for output in _outputs(func, inputs)]
    finally:
        data.flat[flat_index] = original


def _check_jacobians(func, inputs, checked, eps, atol, rtol) -> None:
    outputs = _outputs(func, inputs)
    analytical = _analytical_jacobians(outputs, [inputs[i] for i in checked])
    for column, position in enumerate(checked):
        numerical = _numerical_jacobians(func, inputs, position, eps,
                                         [output.numel() for output in outputs])
        for output_position, output in enumerate(outputs):
            _compare(analytical[output_position][column], numerical[output_position],
                     output.shape, inputs[position].shape, output_position, position,
                     atol, rtol)


def _analytical_jacobians(outputs, differentiated) -> list:
    """[output][input] -> (output.size, input.size) array, one autograd.grad per row."""
    jacobians = []
    for output in outputs:
        rows = [np.zeros((output.numel(), tensor.numel())) for tensor in differentiated]
        if output.requires_grad:
            for row in range(output.numel()):
                selector = np.zeros(output.shape, output.dtype)
                selector.flat[row] = 1
                grads = grad(output, differentiated, grad_outputs=engine.Tensor._wrap(selector),
                             retain_graph=True, allow_unused=True)
                for jacobian, tensor_grad in zip(rows, grads):
                    if tensor_grad is not None:
                        jacobian[row] = tensor_grad.data.ravel()
        jacobians.append(rows)
    return jacobians


def _numerical_jacobians(func, inputs, position, eps, output_sizes) -> list:
    """[output] -> (output.size, input.size) array by central differences on one input."""
    data = inputs[position].data
    jacobians = [np.zeros((size, data.size)) for size in output_sizes]
    for index in range(data.size):
        center = float(data.flat[index])
        plus = _values_at(func, inputs, position, index, center + eps)
        minus = _values_at(func, inputs, position, index, center - eps)
        for jacobian, p, m in zip(jacobians, plus, minus):
            jacobian[:, index] = (p - m).ravel() / (2 * eps)
    return jacobians


def _compare(analytical, numerical, output_shape, input_shape, output_position, position,
             atol, rtol) -> None:
    excess = np.abs(analytical - numerical) - (atol + rtol * np.abs(numerical))
    failing = ~(excess <= 0)  # NaN compares False: a NaN gradient fails, never passes
    if not failing.any():
        return
    row, column = np.unravel_index(np.argmax(excess), excess.shape)
    out_index = np.unravel_index(row, output_shape) if output_shape else ()
    in_index = np.unravel_index(column, input_shape) if input_shape else ()
    a, n = float(analytical[row, column]), float(numerical[row, column])
    raise GradcheckError(
        f"Jacobian mismatch for output {output_position} with respect to input {position}: "
        f"{int(failing.sum())} of {excess.size} elements differ; the worst, "
        f"d output{list(map(int, out_index))} / d input{list(map(int, in_index))}, is "
        f"analytical {a!r} against numerical {n!r} (|difference| {abs(a - n):.3g} > atol + "
        f"rtol * |numerical| = {abs(a - n) - excess[row, column]:.3g})")


def _check_direction(func, inputs, checked, eps, atol, rtol, generator) -> None:
    outputs = _outputs(func, inputs)
    weights = [generator.standard_normal(output.shape) for output in outputs]
    directions = [generator.standard_normal(inputs[i].shape) for i in checked]
    differentiable = [(o, w) for o, w in zip(outputs, weights) if o.requires_grad]
    analytical = 0.0
    if differentiable:
        grads = grad([o for o, _ in differentiable],
                     [inputs[i] for i in checked],
                     grad_outputs=[engine.Tensor._wrap(w.astype(o.dtype))
                                   for o, w in differentiable],
                     allow_unused=True)
        analytical = sum(float(np.sum(g.data * u)) for g, u in zip(grads, directions)
                         if g is not None)
    numerical = (_weighted_sum_at(func, inputs, checked, directions, weights, eps)
                 - _weighted_sum_at(func, inputs, checked, directions, weights, -eps)) / (2 * eps)
    if not abs(analytical - numerical) <= atol + rtol * abs(numerical):
        raise GradcheckError(
            f"Gradient mismatch along a random direction: v . J u is analytical "
            f"{analytical!r} against numerical {numerical!r} (|difference| "
            f"{abs(analytical - numerical):.3g} > atol + rtol * |numerical| = "
            f"{atol + rtol * abs(numerical):.3g}); run gradcheck without fast_mode to find "
            f"the element")


def _weighted_sum_at(func, inputs, checked, directions, weights, step) -> float:
    """sum_k <weights[k], output_k> with each checked input moved by step * its direction."""
    originals = [inputs[i].data.copy() for i in checked]
    try:
        for i, original, direction in zip(checked, originals, directions):
            np.copyto(inputs[i].data, original + step * direction)
        with no_grad():
            outputs = _outputs(func, inputs)
        return sum(float(np.sum(w * o.data)) for w, o in zip(weights, outputs))
    finally:
        for i, original in zip(checked, originals):
            np.copyto(inputs[i].data, original)
