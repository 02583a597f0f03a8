"""The graph engine: a Function is one node; `backward` walks the nodes in reverse order.

Define-by-run, reverse mode, at layer granularity (micrograd's idea with layer-sized nodes):
every call of F.linear, F.batch_norm, ... creates one `Function` that remembers only what its
backward needs. `Tensor.backward()` sorts the nodes topologically and hands each its output
gradient; the node returns one gradient per input.
"""
from __future__ import annotations

import functools
import heapq
import inspect
import itertools
import threading

import numpy as np

# The Tensor class, set by tensor.py once it is defined (tensor.py imports this module, so this
# module cannot import it at load time).
Tensor = None


class _GradMode(threading.local):
    """Whether operations record the graph, kept per thread as in PyTorch: one thread
    evaluating under no_grad does not switch recording off for another that trains, and a
    new thread starts with recording on."""

    def __init__(self):  # runs once in each thread, at its first use of the mode
        self.enabled = True
        # the mode each no_grad entered in this thread found, innermost last: the same no_grad
        # object may be entered twice (nested, or by two threads), so it cannot keep it itself
        self.saved = []


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether operations in this thread record the graph."""
    return _grad_mode.enabled


class no_grad:
    """Context manager (and decorator) in which operations record no graph, in this thread.

    Example:
        >>> with minidl.no_grad():
        ...     predictions = model(images)
        >>> @minidl.no_grad          # or @minidl.no_grad()
        ... def predict(images):
        ...     return model(images)
    """

    def __new__(cls, function=None):
        if function is None:
            return super().__new__(cls)
        if not callable(function):
            raise TypeError(f"no_grad: expected no argument, or a function to decorate, got "
                            f"{function!r}")
        return cls()(function)  # @no_grad without parentheses

    def __enter__(self):
        _grad_mode.saved.append(_grad_mode.enabled)
        _grad_mode.enabled = False
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = _grad_mode.saved.pop()
        return False

    def __call__(self, function):
        if inspect.isgeneratorfunction(function):
            return _generator_without_grad(function)

        @functools.wraps(function)
        def without_grad(*args, **kwargs):
            with no_grad():
                return function(*args, **kwargs)
        return without_grad


def _generator_without_grad(function):
    """no_grad for a generator function, whose body runs while it is iterated, not when it is
    called: each step of the generator runs under no_grad, and the caller has its own mode
    between steps (PyTorch's rule)."""
    @functools.wraps(function)
    def without_grad(*args, **kwargs):
        generator = function(*args, **kwargs)
        try:
            with no_grad():
                response = generator.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with no_grad():
                        generator.close()
                    raise
                except BaseException as error:  # thrown in by the caller: pass it on
                    with no_grad():
                        response = generator.throw(error)
                else:
                    with no_grad():
                        response = generator.send(request)
        except StopIteration as stop:
            return stop.value
    return without_grad


class set_grad_enabled:
    """Switch recording on (True) or off (False) in this thread, as PyTorch's.

    Called as a function, the mode stays until switched again; used as a context manager, the
    mode this call found comes back when the block ends.

    Example:
        >>> with minidl.set_grad_enabled(is_training):
        ...     loss = loss_fn(model(images), labels)
    """

    def __init__(self, mode: bool):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: expected mode True or False, got {mode!r}")
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self._previous
        return False


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

    # Whether backward reads the inputs (arrays of them, or views), so modifying one in place
    # between forward and backward would give wrong gradients: the engine then checks each
    # tensor input's version (see VersionCounter). Layer Functions keep the default; ops whose
    # backward needs no input (Add, Reshape, Sum) say False.
    saves_inputs = True

    # Set (to the in-place op's name) when an in-place op overwrote the output this node kept
    # for its backward (sigmoid's y): that backward then raises instead of using it.
    output_overwritten_by = None

    # Whether every gradient `backward` returns is a new array that nothing else refers to
    # (kernel outputs, not grad_output itself or a view of it). The engine then hands such a
    # gradient to a leaf's `.grad` as it is instead of copying it (MNIST's 100x784 weight:
    # a copy of 6.6 us per step, 20 us on a busy machine). Functions that pass grad_output
    # through (Add) or return views of it (Reshape) keep the default.
    returns_new_grads = False

    @classmethod
    def apply(cls, *inputs, **options):
        """Run forward on the inputs' arrays and, if any input requires grad, record the node."""
        return cls.apply_with_node(*inputs, **options)[0]

    @classmethod
    def apply_with_node(cls, *inputs, **options):
        """As `apply`, but also return the node, for callers that read what forward computed
        besides the output (BatchNorm's batch statistics), with or without a graph."""
        node = cls()
        # One loop instead of three comprehensions: this runs for every layer call (11 per
        # MLP-BN step), where each comprehension's frame costs about as much as its work.
        # versions: each tensor input's version as forward saw it (None for other inputs)
        needs_input_grad, arrays, versions = [], [], []
        for t in inputs:
            if isinstance(t, Tensor):
                needs_input_grad.append(t._requires_grad)
                arrays.append(t.data)
                versions.append(t._version.value)
            else:
                needs_input_grad.append(False)
                arrays.append(t)
                versions.append(None)
        node.needs_input_grad = needs_input_grad = tuple(needs_input_grad)
        output = node.forward(*arrays, **options)
        record = _grad_mode.enabled and True in needs_input_grad
        result = Tensor._wrap(output, requires_grad=record)
        if record:
            node.inputs = inputs
            node.input_versions = versions if node.saves_inputs else None
            node.sequence_number = next(_sequence_numbers)
            result._node = node
        return result, node


# Recorded nodes are numbered in creation order. A node's inputs were all created before it,
# so decreasing sequence numbers are a reverse topological order (PyTorch's engine orders its
# ready queue the same way), and backward needs no depth-first search over the graph.
_sequence_numbers = itertools.count()


def backward(root, grad_output: np.ndarray) -> None:
    """Accumulate d(root)/d(leaf) into `leaf.grad` for every leaf that requires grad.

    The nodes run from the newest to the oldest (see `_sequence_numbers`), each once every
    node that uses its output has run, so each gets the sum of its output's gradients. Leaves
    receive theirs at the end, each summed over all its uses first, as before.
    """
    if root._node is None:  # a leaf: its gradient is the one given, copied into .grad
        root._accumulate_grad(grad_output)
        return
    grads = {id(root): grad_output}   # pending gradient of each tensor reached so far
    ready = [(-root._node.sequence_number, root)]  # non-leaf tensors, newest node first
    leaves = {}  # id -> leaf tensor whose pending gradient is an array it may keep
    while ready:
        tensor = heapq.heappop(ready)[1]
        node = tensor._node
        grad = grads.pop(id(tensor))
        if not hasattr(node, "inputs"):
            raise RuntimeError(
                "backward through this part of the graph a second time: the first backward "
                "freed what it saved; compute the forward pass again")
        _check_saved_versions(node)
        input_grads = node.backward(grad)
        owned = node.returns_new_grads
        for child, needs_grad, child_grad in zip(node.inputs, node.needs_input_grad,
                                                 input_grads):
            if child_grad is None or not needs_grad or not child._requires_grad:
                continue
            key = id(child)
            if key in grads:
                # a tensor used twice (e.g. a residual connection) receives the sum of both
                # paths (a new array)
                grads[key] = grads[key] + child_grad
                continue
            if child._node is not None:
                heapq.heappush(ready, (-child._node.sequence_number, child))
            else:
                leaves[key] = child
                if not owned:
                    child_grad = np.array(child_grad, copy=True)  # not ours to give away
            grads[key] = child_grad
        del node.inputs  # free the saved arrays, as PyTorch does without retain_graph
    for key, leaf in leaves.items():
        leaf._accumulate_grad(grads[key], owned=True)


class VersionCounter:
    """How many times a tensor's data was modified in place (PyTorch's version counter).

    Every in-place op (add_, +=, zero_, optimizer.step(), ...) adds one. A node records the
    versions of the inputs its backward reads; backward compares, one integer per input, and
    refuses to compute gradients from data that changed since the forward pass. Views of a
    tensor (view, transpose, x[0], detach) share its counter, since they share its memory.
    """

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def _check_saved_versions(node) -> None:
    """Raise PyTorch's error if what `node`'s backward reads was modified in place since."""
    if node.output_overwritten_by is not None:
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: the output of {type(node).__name__}, which its backward "
            f"reads, was overwritten by {node.output_overwritten_by}. Hint: use the "
            f"out-of-place form (x = x + y instead of x += y)")
    versions = node.input_versions
    if versions is None:
        return
    for tensor, version in zip(node.inputs, versions):
        if version is not None and tensor._version.value != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: a {tensor.dtype} tensor of shape {tuple(tensor.shape)}, "
                f"an input of {type(node).__name__}, is at version {tensor._version.value}; "
                f"expected version {version} instead. Hint: an optimizer.step() or an in-place "
                f"operation (add_, +=, zero_, ...) ran between the forward pass and backward(); "
                f"call optimizer.step() after backward(), or use out-of-place ops")
