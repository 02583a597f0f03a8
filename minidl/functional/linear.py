"""F.linear: y = x W^T + b, one graph node calling the linear kernels."""
from __future__ import annotations

from .. import _checks
from ..autograd.engine import Node
from ..tensor import Tensor
from ._empty import kernel_for, rows_of


class LinearFunction(Node):
    returns_new_grads = True  # the kernels' outputs (see Node.returns_new_grads)

    def forward(self, x, weight, bias):
        # backward needs x (for grad_weight) and weight (for grad_input); the (N, in) view of
        # x, since leading dimensions are folded into the batch
        self.input_shape = x.shape
        x2d = rows_of(x)
        self.x2d, self.weight, self.has_bias = x2d, weight, bias is not None
        # no rows, no input features or no output features: the NumPy reference (see _empty)
        self.empty = x2d.size == 0 or weight.size == 0
        y = kernel_for("linear_forward", self.empty)(x2d, weight, bias)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, grad_output):
        grad_output = rows_of(grad_output)
        needs_x, needs_w, needs_b = self.needs_input_grad
        grad_x, grad_w, grad_b = kernel_for("linear_backward", self.empty)(
            grad_output, self.x2d, self.weight, needs_x, needs_w, self.has_bias and needs_b)
        if grad_x is not None:
            grad_x = grad_x.reshape(self.input_shape)
        return grad_x, grad_w, grad_b


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias.

    Shape:
        input (*, in_features), weight (out_features, in_features), bias (out_features,),
        output (*, out_features).
    """
    where = "linear"
    _checks.check_float_tensor(weight, where, "weight")
    _checks.check_float_tensor(input, where)
    if weight.ndim != 2:
        raise ValueError(f"{where}: expected weight of shape (out_features, in_features), "
                         f"got {weight.shape}")
    out_features, in_features = weight.shape
    if input.ndim < 1 or input.shape[-1] != in_features:
        raise ValueError(f"{where}: expected input of shape (*, {in_features}) to match weight "
                         f"{weight.shape}, got {input.shape}")
    _checks.check_same_dtype(input, weight, where)
    if bias is not None:
        _checks.check_float_tensor(bias, where, "bias")
        _checks.check_shape(bias, (out_features,), where, "bias")
        _checks.check_same_dtype(bias, weight, where, "bias")
    return LinearFunction.apply(input, weight, bias)
