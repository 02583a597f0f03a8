"""The graph engine: a Node is one step of the graph; `backward` walks the nodes in reverse.

Define-by-run, reverse mode, at layer granularity (micrograd's idea with layer-sized nodes):
every call of F.linear, F.batch_norm, ... creates one `Node` that remembers only what its
backward needs. `Tensor.backward()` orders the nodes topologically and hands each its output
gradient; the node returns one gradient per input.

`Node` is minidl's internal protocol (forward and backward on NumPy arrays, the node itself as
the context: the lean form the layers' hot path uses). The public, PyTorch-protocol
`minidl.autograd.Function` (function.py) is built on it.
"""
from __future__ import annotations

import heapq
import itertools

import numpy as np

from .grad_mode import _grad_mode

# The Tensor class, set by tensor.py once it is defined (tensor.py imports this package, so
# this module cannot import it at load time).
Tensor = None


class Node:
    """One node of the graph (minidl's internal protocol; users subclass autograd.Function).

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
    # tensor input's version (see VersionCounter). Layer nodes keep the default; ops whose
    # backward needs no input (Add, Reshape, Sum) say False.
    saves_inputs = True

    # Set (to the in-place op's name) when an in-place op overwrote the output this node kept
    # for its backward (sigmoid's y): that backward then raises instead of using it.
    output_overwritten_by = None

    # Whether every gradient `backward` returns is a new array that nothing else refers to
    # (kernel outputs, not grad_output itself or a view of it). The engine then hands such a
    # gradient to a leaf's `.grad` as it is instead of copying it (MNIST's 100x784 weight:
    # a copy of 6.6 us per step, 20 us on a busy machine). Nodes that pass grad_output
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


def record(node: Node, inputs: tuple, needs_input_grad: tuple) -> None:
    """Record a node made outside `Node.apply` (autograd.Function's) as taking `inputs`; its
    backward checks what it saved itself (input_versions None)."""
    node.inputs, node.needs_input_grad, node.input_versions = inputs, needs_input_grad, None
    node.sequence_number = next(_sequence_numbers)


GRAPH_FREED = (
    "Trying to backward through the graph a second time (or to read saved tensors after they "
    "were freed): the first backward() or autograd.grad() freed what the graph saved. Specify "
    "retain_graph=True on the first call to differentiate the graph again, or compute the "
    "forward pass again")


def backward(roots, grad_outputs, retain_graph: bool = False, capture: dict | None = None):
    """Propagate each `grad_outputs[i]`, d(something)/d(roots[i]), back through the graph.

    capture None (Tensor.backward): accumulate d(something)/d(leaf) into `leaf.grad` for
    every leaf that requires grad, and into `.grad` of the non-leaf tensors that called
    retain_grad(). capture a dict {id(tensor): None} (autograd.grad): store the gradient of
    each of those tensors in it instead (None where none arrives), touching no `.grad`.
    retain_graph: keep what the nodes saved, so the graph can be differentiated again.

    The nodes run from the newest to the oldest (see `_sequence_numbers`), each once every
    node that uses its output has run, so each gets the sum of its output's gradients. Leaves
    receive theirs at the end, each summed over all its uses first.
    """
    grads = {}   # pending gradient of each tensor reached so far
    ready = []   # non-leaf tensors, newest node first
    leaves = {}  # id -> leaf tensor whose pending gradient is an array it may keep
    for root, grad in zip(roots, grad_outputs):
        key = id(root)
        if key in grads:  # the same tensor given twice: the sum of both (a new array)
            grads[key] = grads[key] + grad
            continue
        if root._node is not None:
            heapq.heappush(ready, (-root._node.sequence_number, root))
        else:
            leaves[key] = root
            grad = np.array(grad, copy=True)  # the caller's array: not ours to give away
        grads[key] = grad
    while ready:
        tensor = heapq.heappop(ready)[1]
        node = tensor._node
        grad = grads.pop(id(tensor))  # complete: every use of tensor has run
        if tensor._retains_grad or capture is not None:
            _keep_gradient(tensor, grad, capture)
        if not hasattr(node, "inputs"):
            raise RuntimeError(GRAPH_FREED)
        _check_saved_versions(node)
        _check_gradient(tensor, grad, node)
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
        if not retain_graph:
            del node.inputs  # free the saved arrays, as PyTorch does without retain_graph
    for key, leaf in leaves.items():
        if capture is None:
            leaf._accumulate_grad(grads[key], owned=True)
        elif key in capture:
            capture[key] = grads[key]


def _keep_gradient(tensor, grad: np.ndarray, capture: dict | None) -> None:
    """A non-leaf tensor's complete gradient, for retain_grad() (capture None) or
    autograd.grad (capture: the tensors asked for), as an array of its own."""
    if capture is None:
        tensor._accumulate_grad(grad)  # copies a first gradient: others may share it
    elif id(tensor) in capture:
        capture[id(tensor)] = np.array(grad, copy=True)


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


def _check_gradient(tensor, grad, node) -> None:
    """The gradient handed to a node's backward has its output's shape and dtype: backward
    passes it to kernels, which must never see an array they were not checked for (a node
    whose backward returned another dtype or shape would otherwise reach Numba's typing)."""
    data, dtype = tensor.data, getattr(grad, "dtype", None)
    if dtype is None:  # not an array: a Function's carrier of several outputs' gradients
        return
    if dtype is data.dtype and grad.shape == data.shape:
        return
    if grad.dtype != data.dtype or grad.shape != data.shape:
        raise RuntimeError(
            f"internal error: the gradient reaching {type(node).__name__}.backward has shape "
            f"{grad.shape} and dtype {grad.dtype}, but its output has shape {data.shape} and "
            f"dtype {data.dtype}; the backward of an operation that uses this output returned "
            f"a wrong gradient (please report it)")


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
            raise modified_in_place(tensor, version, f"an input of {type(node).__name__}")


def modified_in_place(tensor, version: int, role: str) -> RuntimeError:
    """PyTorch's error for a saved `tensor` (`role`: what it is to the node) whose version is
    no longer the `version` it had when it was saved."""
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by "
        f"an inplace operation: a {tensor.dtype} tensor of shape {tuple(tensor.shape)}, "
        f"{role}, is at version {tensor._version.value}; "
        f"expected version {version} instead. Hint: an optimizer.step() or an in-place "
        f"operation (add_, +=, zero_, ...) ran between the forward pass and backward(); "
        f"call optimizer.step() after backward(), or use out-of-place ops")
