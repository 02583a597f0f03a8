"""Elementwise ops with NumPy broadcasting: + - * / **, and the unary functions.

Each is a small Function on arrays: forward computes in the result dtype (see _promotion),
backward returns one gradient per input, summed back to that input's shape and cast to its
dtype by `sum_to_shape` (the one place that knows about broadcasting).
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Node
from ..tensor import Tensor
from ._broadcast import broadcast_shape, sum_to_shape
from ._promotion import as_array, check_operand, floating, result_dtype


# ----- binary ops --------------------------------------------------------------------------

class _Binary(Node):
    """y = f(a, b) for arrays (or numbers) a and b, computed in `dtype` (the result dtype);
    backward returns each gradient in its input's shape and dtype."""

    def forward(self, a, b, dtype):
        self.input_shapes = (np.shape(a), np.shape(b))
        self.input_dtypes = tuple(getattr(x, "dtype", None) for x in (a, b))
        a, b = as_array(a, dtype), as_array(b, dtype)
        self.a, self.b = a, b  # for the backward of Mul, Div, Pow (see saves_inputs)
        return self.compute(a, b)

    def backward(self, grad_output):
        grads = self.partials(grad_output)
        return tuple(None if grad is None or not needed else sum_to_shape(grad, shape, dtype)
                     for grad, needed, shape, dtype in zip(
                         grads, self.needs_input_grad, self.input_shapes, self.input_dtypes)
                     ) + (None,)


class Add(_Binary):
    saves_inputs = False

    def compute(self, a, b):
        return np.add(a, b)

    def partials(self, grad):
        return grad, grad


class Sub(_Binary):
    saves_inputs = False

    def compute(self, a, b):
        return np.subtract(a, b)

    def partials(self, grad):
        return grad, -grad


class Mul(_Binary):
    def compute(self, a, b):
        return np.multiply(a, b)

    def partials(self, grad):
        return grad * self.b, grad * self.a


class Div(_Binary):
    def compute(self, a, b):
        return np.true_divide(a, b)

    def partials(self, grad):
        grad_a = grad / self.b
        return grad_a, -grad_a * self.a / self.b


class Pow(_Binary):
    def compute(self, a, b):
        self.y = np.power(a, b)
        return self.y

    def partials(self, grad):
        a, b = self.a, self.b
        # d(a^b)/da = b a^(b-1); a^(b-1) written as a^b / a fails at a = 0, so power again
        grad_a = grad * b * np.power(a, b - 1) if self.needs_input_grad[0] else None
        # d(a^b)/db = a^b log(a), defined for a > 0 (PyTorch gives nan or inf elsewhere too)
        grad_b = grad * self.y * np.log(a) if self.needs_input_grad[1] else None
        return grad_a, grad_b


def binary(function: type, a, b, op: str, float_result: bool = False) -> Tensor:
    """function applied to a and b (Tensors or numbers, in either order), broadcast."""
    a, b = check_operand(a, op), check_operand(b, op)
    broadcast_shape(*(np.shape(x.data if isinstance(x, Tensor) else x) for x in (a, b)), op=op)
    dtype = result_dtype(a, b)
    if float_result:
        dtype = floating(dtype)
    if dtype.kind == "b" and function in (Sub, Div, Pow):
        raise TypeError(f"{op}: not defined on two bools (PyTorch refuses it too); convert "
                        f"with .long() or .float() first")
    return function.apply(a, b, dtype)


def add(a, b, alpha=1) -> Tensor:
    return binary(Add, a, b if alpha == 1 else b * alpha, "add")


def sub(a, b, alpha=1) -> Tensor:
    return binary(Sub, a, b if alpha == 1 else b * alpha, "sub")


def mul(a, b) -> Tensor:
    return binary(Mul, a, b, "mul")


def div(a, b) -> Tensor:
    """True division: integers give float32, as in PyTorch."""
    return binary(Div, a, b, "div", float_result=True)


def pow(a, b) -> Tensor:
    return binary(Pow, a, b, "pow")


# ----- unary ops ---------------------------------------------------------------------------

class _Unary(Node):
    """y = f(a) elementwise; `derivative` gives dy/da from what forward kept."""

    def forward(self, a, dtype):
        self.a = a = a.astype(dtype, copy=False)
        self.y = self.compute(a)
        return self.y

    def backward(self, grad_output):
        return grad_output * self.derivative(), None


class Neg(_Unary):
    saves_inputs = False

    def compute(self, a):
        return np.negative(a)

    def backward(self, grad_output):
        return -grad_output, None


class Abs(_Unary):
    def compute(self, a):
        return np.abs(a)

    def derivative(self):
        return np.sign(self.a)  # 0 at 0, as PyTorch


class Exp(_Unary):
    saves_inputs = False  # backward uses the output

    def compute(self, a):
        return np.exp(a)

    def derivative(self):
        return self.y


class Log(_Unary):
    def compute(self, a):
        return np.log(a)

    def derivative(self):
        return 1 / self.a


class Sqrt(_Unary):
    saves_inputs = False

    def compute(self, a):
        return np.sqrt(a)

    def derivative(self):
        return 0.5 / self.y


class Sin(_Unary):
    def compute(self, a):
        return np.sin(a)

    def derivative(self):
        return np.cos(self.a)


class Cos(_Unary):
    def compute(self, a):
        return np.cos(a)

    def derivative(self):
        return -np.sin(self.a)


class Sigmoid(_Unary):
    saves_inputs = False

    def compute(self, a):
        # 1 / (1 + e^-a) = e^-log(1 + e^-a), which overflows for no a of either sign
        return np.exp(-np.logaddexp(0, -a)).astype(a.dtype, copy=False)

    def derivative(self):
        return self.y * (1 - self.y)


class Tanh(_Unary):
    saves_inputs = False

    def compute(self, a):
        return np.tanh(a)

    def derivative(self):
        return 1 - self.y * self.y


class ReLU(_Unary):
    def compute(self, a):
        return np.maximum(a, 0)

    def derivative(self):
        return (self.a > 0).astype(self.a.dtype)  # 0 at 0, as PyTorch


class Clamp(Node):
    def forward(self, a, low, high):
        self.a, self.low, self.high = a, low, high
        return np.clip(a, low, high)

    def backward(self, grad_output):
        # the gradient passes where the input was inside [low, high] (edges included, as PyTorch)
        inside = np.ones(self.a.shape, dtype=bool)
        if self.low is not None:
            inside &= self.a >= self.low
        if self.high is not None:
            inside &= self.a <= self.high
        return grad_output * inside, None, None


def _unary(function: type, a, op: str, float_result: bool) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(a).__name__}")
    dtype = floating(a.dtype) if float_result else a.dtype
    if dtype.kind == "b":
        raise TypeError(f"{op}: not defined on a bool tensor; convert with .long() or "
                        f".float() first")
    return function.apply(a, dtype)


def neg(a) -> Tensor:
    return _unary(Neg, a, "neg", False)


def abs(a) -> Tensor:
    return _unary(Abs, a, "abs", False)


def exp(a) -> Tensor:
    return _unary(Exp, a, "exp", True)


def log(a) -> Tensor:
    return _unary(Log, a, "log", True)


def sqrt(a) -> Tensor:
    return _unary(Sqrt, a, "sqrt", True)


def sin(a) -> Tensor:
    return _unary(Sin, a, "sin", True)


def cos(a) -> Tensor:
    return _unary(Cos, a, "cos", True)


def sigmoid(a) -> Tensor:
    return _unary(Sigmoid, a, "sigmoid", True)


def tanh(a) -> Tensor:
    return _unary(Tanh, a, "tanh", True)


def relu(a) -> Tensor:
    return _unary(ReLU, a, "relu", False)


def clamp(a, min=None, max=None) -> Tensor:
    """Limit each value to [min, max] (either may be None, not both), as torch.clamp."""
    if not isinstance(a, Tensor):
        raise TypeError(f"clamp: expected a Tensor, got {type(a).__name__}")
    if min is None and max is None:
        raise ValueError("clamp: expected min or max (or both), got neither")
    bounds = []
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, (bool, np.bool_))
                                  or not isinstance(bound, (int, float, np.number))):
            raise TypeError(f"clamp: expected {name} to be a number or None, got "
                            f"{type(bound).__name__}")
        if bound is not None and a.dtype.kind != "f" and not float(bound).is_integer():
            raise TypeError(f"clamp: a {a.dtype} tensor cannot be clamped to {name}={bound}")
        bounds.append(None if bound is None else a.dtype.type(bound))
    return Clamp.apply(a, *bounds)
