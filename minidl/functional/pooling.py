"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d over NCHW input."""
from __future__ import annotations

from .. import _checks
from ..autograd import Function
from ..backend import kernel
from ..tensor import Tensor
from .conv import conv_output_size


class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding):
        y, self.indices = kernel("max_pool2d_forward")(x, kernel_size, stride, padding)
        self.input_shape = x.shape  # backward routes each gradient to its window's maximum
        return y

    def backward(self, grad_output):
        grad = kernel("max_pool2d_backward")(grad_output, self.indices, self.input_shape)
        return grad, None, None, None


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding, count_include_pad):
        self.input_shape = x.shape
        self.options = (kernel_size, stride, padding, count_include_pad)
        return kernel("avg_pool2d_forward")(x, *self.options)

    def backward(self, grad_output):
        grad = kernel("avg_pool2d_backward")(grad_output, self.input_shape, *self.options)
        return grad, None, None, None, None


class AdaptiveAvgPool2dFunction(Function):
    def forward(self, x, output_size):
        self.input_shape = x.shape
        return kernel("adaptive_avg_pool2d_forward")(x, output_size)

    def backward(self, grad_output):
        return kernel("adaptive_avg_pool2d_backward")(grad_output, self.input_shape), None


def _pool_arguments(input, kernel_size, stride, padding, where):
    """Validate NCHW float input and the window; return the (int, int) triples."""
    _checks.check_float_tensor(input, where)
    if input.ndim != 4:
        raise ValueError(f"{where}: expected input of shape (N, C, H, W), got {input.shape}")
    kernel_size = _checks.check_pair(kernel_size, where, "kernel_size", minimum=1)
    stride = kernel_size if stride is None else _checks.check_pair(stride, where, "stride", 1)
    padding = _checks.check_pair(padding, where, "padding", minimum=0)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{where}: padding should be at most half of the kernel size, got "
                         f"padding {padding} for kernel_size {kernel_size}")
    out = [conv_output_size(size, k, s, p, 1) for size, k, s, p in
           zip(input.shape[2:], kernel_size, stride, padding)]
    if min(out) < 1:
        raise ValueError(f"{where}: the input of size {input.shape[2:]} (H, W) is smaller than "
                         f"the window {kernel_size} with padding {padding}")
    return kernel_size, stride, padding


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Maximum over each window; the gradient goes to the window's (first) maximum.

    Shape: input (N, C, H, W) -> (N, C, H_out, W_out), H_out = (H + 2 p - k) // s + 1.
    """
    return max_pool2d_in("max_pool2d", input, kernel_size, stride, padding)


def max_pool2d_in(where: str, input, kernel_size, stride, padding) -> Tensor:
    options = _pool_arguments(input, kernel_size, stride, padding, where)
    return MaxPool2dFunction.apply(input, *options)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each window (zero padding counted in the divisor if count_include_pad)."""
    return avg_pool2d_in("avg_pool2d", input, kernel_size, stride, padding, count_include_pad)


def avg_pool2d_in(where: str, input, kernel_size, stride, padding, count_include_pad) -> Tensor:
    options = _pool_arguments(input, kernel_size, stride, padding, where)
    return AvgPool2dFunction.apply(input, *options, bool(count_include_pad))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over PyTorch's adaptive bins: output (N, C, *output_size); size 1 is a global
    average. A None entry keeps that input dimension."""
    return adaptive_avg_pool2d_in("adaptive_avg_pool2d", input, output_size)


def adaptive_avg_pool2d_in(where: str, input, output_size) -> Tensor:
    _checks.check_float_tensor(input, where)
    if input.ndim != 4:
        raise ValueError(f"{where}: expected input of shape (N, C, H, W), got {input.shape}")
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(input.shape[2 + i] if size is None else size
                            for i, size in enumerate(output_size))
    output_size = _checks.check_pair(output_size, where, "output_size", minimum=1)
    return AdaptiveAvgPool2dFunction.apply(input, output_size)
