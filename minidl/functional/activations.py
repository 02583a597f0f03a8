"""Elementwise activations: relu, leaky_relu, elu, sigmoid, tanh (one graph node each)."""
from __future__ import annotations

from .. import _checks
from ..autograd.engine import Node
from ..backend import kernel
from ..tensor import Tensor


class ReLUFunction(Node):
    def forward(self, x):
        self.x = x  # the mask x > 0 is recomputed in backward
        return kernel("relu_forward")(x)

    def backward(self, grad_output):
        return (kernel("relu_backward")(grad_output, self.x),)


class LeakyReLUFunction(Node):
    def forward(self, x, negative_slope):
        self.x, self.negative_slope = x, negative_slope
        return kernel("leaky_relu_forward")(x, negative_slope)

    def backward(self, grad_output):
        return kernel("leaky_relu_backward")(grad_output, self.x, self.negative_slope), None


class ELUFunction(Node):
    def forward(self, x, alpha):
        y = kernel("elu_forward")(x, alpha)
        self.x, self.y, self.alpha = x, y, alpha  # for x <= 0 the derivative is y + alpha
        return y

    def backward(self, grad_output):
        return kernel("elu_backward")(grad_output, self.x, self.y, self.alpha), None


class SigmoidFunction(Node):
    def forward(self, x):
        self.y = kernel("sigmoid_forward")(x)  # sigmoid' = y (1 - y)
        return self.y

    def backward(self, grad_output):
        return (kernel("sigmoid_backward")(grad_output, self.y),)


class TanhFunction(Node):
    def forward(self, x):
        self.y = kernel("tanh_forward")(x)  # tanh' = 1 - y^2
        return self.y

    def backward(self, grad_output):
        return (kernel("tanh_backward")(grad_output, self.y),)


def relu(input: Tensor) -> Tensor:
    """max(0, x) elementwise (NaN stays NaN)."""
    return ReLUFunction.apply(_checks.check_float_tensor(input, "relu"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    _checks.check_float_tensor(input, "leaky_relu")
    _checks.check_number(negative_slope, "leaky_relu", "negative_slope")
    return LeakyReLUFunction.apply(input, float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    _checks.check_float_tensor(input, "elu")
    _checks.check_number(alpha, "elu", "alpha")
    return ELUFunction.apply(input, float(alpha))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    return SigmoidFunction.apply(_checks.check_float_tensor(input, "sigmoid"))


def tanh(input: Tensor) -> Tensor:
    return TanhFunction.apply(_checks.check_float_tensor(input, "tanh"))
