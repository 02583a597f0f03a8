"""The graph engine: a Function is one node; `backward` walks the nodes in reverse order.

Define-by-run, reverse mode, at layer granularity (micrograd's idea with layer-sized nodes):
every call of F.linear, F.batch_norm, ... creates one `Function` that remembers only what its
backward needs. `Tensor.backward()` sorts the nodes topologically and hands each its output
gradient; the node returns one gradient per input.
"""
from __future__ import annotations

import functools

import numpy as np

# The Tensor class, set by tensor.py once it is defined (tensor.py imports this module, so this
# module cannot import it at load time).
Tensor = None


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class no_grad:
    """Context manager (and decorator) in which operations record no graph.

    Example:
        >>> with minidl.no_grad():
        ...     predictions = model(images)
    """

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc_info):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def without_grad(*args, **kwargs):
            with no_grad():
                return function(*args, **kwargs)
        return without_grad


class Function:
    """One node of the graph.

    Subclasses implement `forward(*arrays, **options) -> array`, storing on `self` only what
    backward needs, and `backward(grad_output) -> tuple` with one gradient (or None) per
    positional input of `forward`. `self.needs_input_grad[i]` says whether input i wants one,
    so backward can skip work nobody asked for.
    """

    def forward(self, *arrays, **options) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        """Run forward on the inputs' arrays and, if any input requires grad, record the node."""
        return cls.apply_with_node(*inputs, **options)[0]

    @classmethod
    def apply_with_node(cls, *inputs, **options):
        """As `apply`, but also return the node, for callers that read what forward computed
        besides the output (BatchNorm's batch statistics), with or without a graph."""
        node = cls()
        is_tensor = [isinstance(t, Tensor) for t in inputs]
        node.needs_input_grad = tuple(tensor and t._requires_grad
                                      for tensor, t in zip(is_tensor, inputs))
        arrays = [t.data if tensor else t for tensor, t in zip(is_tensor, inputs)]
        output = node.forward(*arrays, **options)
        record = _GradMode.enabled and any(node.needs_input_grad)
        result = Tensor._wrap(output, requires_grad=record)
        if record:
            node.inputs = inputs
            result._node = node
        return result, node


def backward(root, grad_output: np.ndarray) -> None:
    """Accumulate d(root)/d(leaf) into `leaf.grad` for every leaf that requires grad."""
    order = _reverse_topological_order(root)
    grads = {id(root): grad_output}
    for tensor in order:
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        node = tensor._node
        if node is None:
            tensor._accumulate_grad(grad)
            continue
        if not hasattr(node, "inputs"):
            raise RuntimeError(
                "backward through this part of the graph a second time: the first backward "
                "freed what it saved; compute the forward pass again")
        input_grads = node.backward(grad)
        for child, child_grad in zip(node.inputs, input_grads):
            if child_grad is None or not getattr(child, "requires_grad", False):
                continue
            key = id(child)
            # a tensor used twice (e.g. a residual connection) receives the sum of both paths
            grads[key] = child_grad if key not in grads else grads[key] + child_grad
        del node.inputs  # free the saved arrays, as PyTorch does without retain_graph


def _reverse_topological_order(root) -> list:
    """Tensors from `root` back to the leaves, each after every tensor that uses it.

    Iterative depth-first search, so deep networks do not hit Python's recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        for child in getattr(node, "inputs", ()):
            if getattr(child, "requires_grad", False) and id(child) not in visited:
                stack.append((child, False))
    order.reverse()
    return order
