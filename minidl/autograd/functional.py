"""autograd.grad: gradients returned instead of accumulated into `.grad`."""
from __future__ import annotations

import numpy as np

from . import engine


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of `outputs` with respect to each of `inputs`, as PyTorch's
    torch.autograd.grad: a tuple of Tensors (None for an unused input when allow_unused),
    leaving every `.grad` as it was.

    Args:
        outputs: a Tensor or a sequence of Tensors that require grad.
        inputs: a Tensor or a sequence of Tensors (leaves or not) that require grad.
        grad_outputs: d(something)/d(output) for each output (None: a one-element output's 1).
        retain_graph: keep the graph for another backward or grad (default False).
        allow_unused: return None for an input the outputs do not depend on, instead of
            raising.

    Example:
        >>> (dx,) = minidl.autograd.grad((x ** 2).sum(), x)   # 2 * x
    """
    from ..tensor import output_gradient  # tensor.py imports this package: not at load time
    if create_graph:
        raise NotImplementedError(
            "autograd.grad(create_graph=True): minidl's backward computes on arrays, not as a "
            "graph, so gradients of gradients are not available")
    outputs = _tensors(outputs, "outputs")
    inputs = _tensors(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _sequence(grad_outputs, "grad_outputs")
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: expected one grad_output per output ({len(outputs)}), "
                         f"got {len(grad_outputs)}")
    _check_retain_graph(retain_graph, "autograd.grad")
    for position, output in enumerate(outputs):
        if not output.requires_grad:
            raise RuntimeError(f"autograd.grad: output {position} does not require grad and "
                               f"has no graph (computed under no_grad, or from tensors "
                               f"without requires_grad=True?)")
    for position, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(f"autograd.grad: input {position} does not require grad, so "
                               f"it has no gradient; set requires_grad=True on it before the "
                               f"forward pass")
    arrays = [output_gradient(output, gradient, f"autograd.grad(grad_outputs[{position}])")
              for position, (output, gradient) in enumerate(zip(outputs, grad_outputs))]
    captured = {id(tensor): None for tensor in inputs}
    engine.backward(outputs, arrays, retain_graph=bool(retain_graph), capture=captured)
    return _results(inputs, captured, allow_unused)


def _results(inputs: tuple, captured: dict, allow_unused: bool) -> tuple:
    results, given = [], set()
    for position, tensor in enumerate(inputs):
        array = captured[id(tensor)]
        if array is None:
            if not allow_unused:
                raise RuntimeError(f"autograd.grad: input {position} was not used in the graph "
                                   f"of the outputs; set allow_unused=True to get None for it")
            results.append(None)
            continue
        if id(tensor) in given:  # the same input twice: each result its own array
            array = array.copy()
        given.add(id(tensor))
        results.append(engine.Tensor._wrap(array))
    return tuple(results)


def _tensors(value, name: str) -> tuple:
    values = (value,) if isinstance(value, engine.Tensor) else _sequence(value, name)
    if not values:
        raise ValueError(f"autograd.grad: expected at least one tensor in {name}, got none")
    for position, tensor in enumerate(values):
        if not isinstance(tensor, engine.Tensor):
            raise TypeError(f"autograd.grad: expected {name} to be Tensors, got "
                            f"{type(tensor).__name__} at position {position}")
    return values


def _sequence(value, name: str) -> tuple:
    if isinstance(value, engine.Tensor):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"autograd.grad: expected {name} to be a Tensor or a list or tuple, "
                        f"got {type(value).__name__}")
    return tuple(value)


def _check_retain_graph(retain_graph, where: str) -> None:
    if retain_graph is not None and not isinstance(retain_graph, (bool, np.bool_)):
        raise TypeError(f"{where}: expected retain_graph True, False or None, got "
                        f"{retain_graph!r}")
