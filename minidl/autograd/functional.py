"""autograd.grad (gradients returned instead of accumulated into `.grad`) and
autograd.backward (Tensor.backward for several tensors at once), as PyTorch's."""
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
    outputs = _tensors(outputs, "outputs", "autograd.grad")
    inputs = _tensors(inputs, "inputs", "autograd.grad")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _sequence(grad_outputs, "grad_outputs", "autograd.grad")
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: expected one grad_output per output ({len(outputs)}), "
                         f"got {len(grad_outputs)}")
    _check_retain_graph(retain_graph, "autograd.grad")
    _check_require_grad(outputs, "output", "autograd.grad")
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


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate into `.grad` the gradient of the sum of `tensors` (each weighted by its
    grad_tensor) with respect to every leaf, in one backward pass (PyTorch's
    torch.autograd.backward; Tensor.backward for one tensor).

    Example:
        >>> minidl.autograd.backward([loss_a, loss_b])   # as (loss_a + loss_b).backward()
    """
    from ..tensor import output_gradient  # tensor.py imports this package: not at load time
    if create_graph:
        raise NotImplementedError(
            "autograd.backward(create_graph=True): minidl's backward computes on arrays, not "
            "as a graph, so gradients of gradients are not available")
    tensors = _tensors(tensors, "tensors", "autograd.backward")
    grad_tensors = _sequence((None,) * len(tensors) if grad_tensors is None else grad_tensors,
                             "grad_tensors", "autograd.backward")
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"autograd.backward: expected one grad_tensor per tensor "
                         f"({len(tensors)}), got {len(grad_tensors)}")
    _check_retain_graph(retain_graph, "autograd.backward")
    _check_require_grad(tensors, "tensor", "autograd.backward")
    arrays = [output_gradient(tensor, gradient, f"autograd.backward(grad_tensors[{position}])")
              for position, (tensor, gradient) in enumerate(zip(tensors, grad_tensors))]
    engine.backward(tensors, arrays, retain_graph=bool(retain_graph))


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


def _check_require_grad(tensors: tuple, kind: str, where: str) -> None:
    for position, tensor in enumerate(tensors):
        if not tensor.requires_grad:
            raise RuntimeError(f"{where}: {kind} {position} does not require grad and has no "
                               f"graph (computed under no_grad, or from tensors without "
                               f"requires_grad=True?)")


def _tensors(value, name: str, where: str) -> tuple:
    values = _sequence(value, name, where)
    if not values:
        raise ValueError(f"{where}: expected at least one tensor in {name}, got none")
    for position, tensor in enumerate(values):
        if not isinstance(tensor, engine.Tensor):
            raise TypeError(f"{where}: expected {name} to be Tensors, got "
                            f"{type(tensor).__name__} at position {position}")
    return values


def _sequence(value, name: str, where: str) -> tuple:
    if isinstance(value, engine.Tensor):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{where}: expected {name} to be a Tensor or a list or tuple, "
                        f"got {type(value).__name__}")
    return tuple(value)


def _check_retain_graph(retain_graph, where: str) -> None:
    if retain_graph is not None and not isinstance(retain_graph, (bool, np.bool_)):
        raise TypeError(f"{where}: expected retain_graph True, False or None, got "
                        f"{retain_graph!r}")
