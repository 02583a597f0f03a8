"""autograd.Function: operations users define, with PyTorch's protocol.

    class Exp(minidl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):
            y, = ctx.saved_tensors
            return grad_output * y

    y = Exp.apply(x)

forward receives the arguments as given (Tensors and anything else) and runs without recording
a graph; it returns a Tensor or a tuple. backward receives one gradient Tensor per output and
returns one gradient per argument of forward (None where there is none), also without
recording. Each call of `apply` becomes one engine node (a `_FunctionNode`) holding the ctx.
"""
from __future__ import annotations

import inspect

import numpy as np

from . import engine
from .engine import GRAPH_FREED, Node, modified_in_place, record
from .grad_mode import _grad_mode, no_grad


class FunctionCtx:
    """The `ctx` a Function's forward fills in and its backward reads.

    `ctx.save_for_backward(*tensors)` keeps tensors for backward (checked against in-place
    changes when backward reads `ctx.saved_tensors`); `ctx.needs_input_grad[i]` says whether
    argument i of forward wants a gradient; any other value can be kept as an attribute
    (`ctx.scale = scale`).
    """

    def __init__(self, function_name: str, needs_input_grad: tuple):
        self._function_name = function_name
        self.needs_input_grad = needs_input_grad
        self._saved, self._saved_versions, self._freed = (), (), False
        self._non_differentiable = ()  # outputs forward marked as having no gradient
        self._materialize_grads = True  # zeros, not None, for outputs no gradient reached

    def save_for_backward(self, *tensors) -> None:
        for position, tensor in enumerate(tensors):
            if tensor is not None and not isinstance(tensor, engine.Tensor):
                raise TypeError(
                    f"{self._function_name}: save_for_backward saves Tensors (or None), but "
                    f"argument {position} is {type(tensor).__name__}; keep other values as "
                    f"attributes of ctx (ctx.scale = scale)")
        self._saved = tensors
        # each tensor's version now: backward refuses values modified in place since
        self._saved_versions = tuple(None if tensor is None else tensor._version.value
                                     for tensor in tensors)

    @property
    def saved_tensors(self) -> tuple:
        """What forward saved, refused if the graph was freed or a tensor modified since."""
        if self._freed:
            raise RuntimeError(GRAPH_FREED)
        for tensor, version in zip(self._saved, self._saved_versions):
            if tensor is not None and tensor._version.value != version:
                raise modified_in_place(
                    tensor, version, f"saved by {self._function_name}.forward "
                                     f"(ctx.save_for_backward)")
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        """Mark outputs of forward (integer indices, masks) as having no gradient: they do not
        require grad, and backward receives zeros (or None) for them."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None instead of zeros for an output no gradient reached."""
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{self._function_name}: set_materialize_grads expects True or "
                            f"False, got {value!r}")
        self._materialize_grads = bool(value)

    def _free(self) -> None:
        self._saved, self._saved_versions, self._freed = (), (), True


class Function:
    """Base class of user-defined operations (PyTorch's torch.autograd.Function).

    Subclasses implement `@staticmethod forward(ctx, *args)` and `@staticmethod
    backward(ctx, *grad_outputs)`, and are called as `MyFunction.apply(*args)` (see the module
    docstring for an example). PyTorch 2's other form works too: `forward(*args)` without ctx,
    plus `@staticmethod setup_context(ctx, inputs, output)` that fills ctx in.

    Checked against minidl's rules: backward must return one gradient per argument of
    forward, each None or a Tensor of that argument's shape and dtype (nothing is broadcast
    or cast on the way), and None for arguments that are not Tensors.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for method in ("forward", "backward"):
            if not isinstance(inspect.getattr_static(cls, method), staticmethod):
                raise TypeError(
                    f"{cls.__name__}.{method} must be a @staticmethod taking ctx first, as in "
                    f"PyTorch: @staticmethod def {method}(ctx, ...)")

    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        raise RuntimeError(f"{name} is not instantiated: call {name}.apply(...) (forward and "
                           f"backward are static methods)")

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a subclass of autograd.Function implements "
                                  "@staticmethod forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a subclass of autograd.Function implements "
                                  "@staticmethod backward(ctx, *grad_outputs)")

    setup_context = None  # PyTorch 2's separate form: setup_context(ctx, inputs, output)

    @classmethod
    def apply(cls, *args):
        """Run forward on `args` and, if a Tensor among them requires grad, record the node."""
        needs_input_grad = tuple(isinstance(arg, engine.Tensor) and arg._requires_grad
                                 for arg in args)
        ctx = FunctionCtx(cls.__name__, needs_input_grad)
        with no_grad():
            if cls.setup_context is None:
                returned = cls.forward(ctx, *args)
            else:
                returned = cls.forward(*args)
                cls.setup_context(ctx, args, returned)
        returned_outputs = _output_tuple(cls, returned)
        outputs = tuple(_new_output(output) if isinstance(output, engine.Tensor) else output
                        for output in returned_outputs)
        if _grad_mode.enabled and True in needs_input_grad:
            differentiable = tuple(
                isinstance(output, engine.Tensor) and output.dtype.kind == "f"
                and not any(output is marked for marked in ctx._non_differentiable)
                for output in returned_outputs)
            _record(cls, ctx, args, needs_input_grad, outputs, differentiable,
                    several=isinstance(returned, tuple))
        return outputs if isinstance(returned, tuple) else outputs[0]


def _output_tuple(function: type, returned) -> tuple:
    if isinstance(returned, engine.Tensor):
        return (returned,)
    if isinstance(returned, tuple):
        return returned
    raise TypeError(f"{function.__name__}.forward: expected a Tensor or a tuple to be returned, "
                    f"got {type(returned).__name__} (forward computes on Tensors and returns "
                    f"Tensors, as in PyTorch; wrap an array with minidl.tensor)")


def _new_output(tensor):
    """The tensor apply returns for one forward returned: a new tensor sharing its memory and
    version counter, so the graph link is not set on a tensor the caller may hold (an input
    forward returned as it is), while an in-place change of the output still shows in what
    forward saved."""
    output = engine.Tensor._wrap(tensor.data)
    output._version = tensor._version
    return output


def _record(function, ctx, args, needs_input_grad, outputs, differentiable: tuple,
            several: bool) -> None:
    """Link the outputs that have a gradient (`differentiable`) to a new node."""
    node = _FunctionNode(function, ctx, outputs)
    record(node, args, needs_input_grad)
    if not several:
        if differentiable[0]:
            outputs[0]._node, outputs[0]._requires_grad = node, True
        return
    # Several outputs: each gets a small node that hands its gradient, at its position, to a
    # hidden tensor the Function's node produced. The engine sums what reaches that tensor
    # (by _OutputGrads.__add__), and runs the Function's backward once, with all of them.
    gathered = engine.Tensor._wrap(np.empty(0), requires_grad=True)
    gathered._node = node
    for position, (output, linked) in enumerate(zip(outputs, differentiable)):
        if linked:
            selector = _OutputOf(position, len(outputs))
            record(selector, (gathered,), (True,))
            output._node, output._requires_grad = selector, True


class _OutputGrads:
    """The gradients reaching a Function's outputs (None where none has), one per output."""

    __slots__ = ("arrays",)

    def __init__(self, arrays: tuple):
        self.arrays = arrays

    def __add__(self, other: "_OutputGrads") -> "_OutputGrads":
        return _OutputGrads(tuple(mine if theirs is None else theirs if mine is None
                                  else mine + theirs
                                  for mine, theirs in zip(self.arrays, other.arrays)))


class _OutputOf(Node):
    """Output `position` of a Function with several outputs: passes its gradient on."""

    saves_inputs = False

    def __init__(self, position: int, count: int):
        self.position, self.count = position, count

    def backward(self, grad_output):
        arrays = [None] * self.count
        arrays[self.position] = grad_output
        return (_OutputGrads(tuple(arrays)),)


class _FunctionNode(Node):
    """The engine's node for one `Function.apply` call: runs the Function's backward."""

    saves_inputs = False  # ctx.saved_tensors checks the versions of what forward saved

    def __init__(self, function: type, ctx: FunctionCtx, outputs: tuple):
        self.function, self.ctx = function, ctx
        # (shape, dtype) of each Tensor output, for a zero gradient where none arrives
        self.output_specs = tuple((output.shape, output.dtype)
                                  if isinstance(output, engine.Tensor) else None
                                  for output in outputs)

    # The engine frees a node's saved state by deleting `inputs` (and tests hasattr to know
    # whether it was freed); for this node that also frees what ctx saved.
    @property
    def inputs(self) -> tuple:
        return self._inputs

    @inputs.setter
    def inputs(self, inputs: tuple) -> None:
        self._inputs = inputs

    @inputs.deleter
    def inputs(self) -> None:
        del self._inputs
        self.ctx._free()

    def backward(self, grad_output):
        arrays = (grad_output.arrays if isinstance(grad_output, _OutputGrads)
                  else (grad_output,))
        grad_outputs = tuple(self._grad_output(spec, array)
                             for spec, array in zip(self.output_specs, arrays))
        with no_grad():
            returned = self.function.backward(self.ctx, *grad_outputs)
        return _input_gradients(self.function.__name__, returned, self.inputs,
                                self.needs_input_grad)

    def _grad_output(self, spec, array):
        """The gradient Tensor backward receives for one output (spec None: not a Tensor)."""
        if array is not None:
            return engine.Tensor._wrap(array)
        if spec is None or not self.ctx._materialize_grads:
            return None
        return engine.Tensor._wrap(np.zeros(spec[0], spec[1]))


def _input_gradients(name: str, returned, inputs: tuple, needs_input_grad: tuple) -> tuple:
    """The arrays of the gradients `name`.backward returned, checked against its inputs."""
    if not isinstance(returned, tuple):
        returned = (returned,)
    extra = returned[len(inputs):]
    if len(returned) < len(inputs) or any(grad is not None for grad in extra):
        raise ValueError(f"{name}.backward returned {len(returned)} gradient(s), expected "
                         f"{len(inputs)}: one per argument of forward (None for an argument "
                         f"that has none)")
    arrays = []
    for position, (grad, argument, needed) in enumerate(zip(returned, inputs,
                                                             needs_input_grad)):
        if grad is not None:
            _check_gradient(name, position, grad, argument)
        arrays.append(grad.data if grad is not None and needed else None)
    return tuple(arrays)


def _check_gradient(name: str, position: int, grad, argument) -> None:
    where = f"{name}.backward: the gradient for argument {position} of forward"
    if not isinstance(argument, engine.Tensor):
        raise TypeError(f"{where} must be None, since that argument is not a Tensor (it is "
                        f"{type(argument).__name__}); got {type(grad).__name__}")
    if not isinstance(grad, engine.Tensor):
        raise TypeError(f"{where}: expected a Tensor or None, got {type(grad).__name__}")
    if argument.dtype.kind != "f":
        return  # an integer or bool argument takes no gradient: what came is ignored
    if grad.shape != argument.shape:
        raise ValueError(f"{where}: expected the argument's shape {tuple(argument.shape)}, "
                         f"got shape {tuple(grad.shape)}")
    if grad.dtype != argument.dtype:
        raise TypeError(f"{where}: expected the argument's dtype {argument.dtype}, got "
                        f"{grad.dtype} (minidl casts no gradient silently)")
