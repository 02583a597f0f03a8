"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d over NCHW input."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..autograd.engine import Node
from ..backend import kernel
from ..tensor import Tensor
from .conv import conv_output_size


# An empty batch is the only empty input the pooling functions take (_check_pool_input); it
# never reaches a kernel: its output and gradient are empty arrays of the right shapes.

class MaxPool2dFunction(Node):
    def forward(self, x, kernel_size, stride, padding):
        self.input_shape = x.shape  # backward routes each gradient to its window's maximum
        if x.size == 0:
            self.indices = None
            return _empty_output(x, kernel_size, stride, padding)
        y, self.indices = kernel("max_pool2d_forward")(x, kernel_size, stride, padding)
        return y

    def backward(self, grad_output):
        if grad_output.size == 0:
            return np.zeros(self.input_shape, grad_output.dtype), None, None, None
        grad = kernel("max_pool2d_backward")(grad_output, self.indices, self.input_shape)
        return grad, None, None, None


class AvgPool2dFunction(Node):
    def forward(self, x, kernel_size, stride, padding, count_include_pad):
        self.input_shape = x.shape
        self.options = (kernel_size, stride, padding, count_include_pad)
        if x.size == 0:
            return _empty_output(x, kernel_size, stride, padding)
        return kernel("avg_pool2d_forward")(x, *self.options)

    def backward(self, grad_output):
        if grad_output.size == 0:
            return np.zeros(self.input_shape, grad_output.dtype), None, None, None, None
        grad = kernel("avg_pool2d_backward")(grad_output, self.input_shape, *self.options)
        return grad, None, None, None, None


class AdaptiveAvgPool2dFunction(Node):
    def forward(self, x, output_size):
        self.input_shape = x.shape
        if x.size == 0:
            return np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
        return kernel("adaptive_avg_pool2d_forward")(x, output_size)

    def backward(self, grad_output):
        if grad_output.size == 0:
            return np.zeros(self.input_shape, grad_output.dtype), None
        return kernel("adaptive_avg_pool2d_backward")(grad_output, self.input_shape), None


def _empty_output(x, kernel_size, stride, padding) -> np.ndarray:
    """The (0, C, Ho, Wo) output of a window pooling of an empty batch x."""
    out = [conv_output_size(size, k, s, p, 1)
           for size, k, s, p in zip(x.shape[2:], kernel_size, stride, padding)]
    return np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)


def _check_pool_input(input, where):
    """NCHW float input with non-empty channels and planes (PyTorch 2.13 refuses empty ones
    too, "optional 0 dim batch size"); the batch may be empty."""
    _checks.check_float_tensor(input, where)
    if input.ndim != 4:
        raise ValueError(f"{where}: expected input of shape (N, C, H, W), got {input.shape}")
    if min(input.shape[1:]) == 0:
        raise ValueError(f"{where}: expected input (N, C, H, W) with C, H and W at least 1 (an "
                         f"empty batch is fine), got {input.shape}")


def _pool_arguments(input, kernel_size, stride, padding, where):
    """Validate NCHW float input and the window; return the (int, int) triples."""
    _check_pool_input(input, where)
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
    # (PyTorch 2.13 refuses an empty C, H or W too, except in its global-average shortcut
    # for output_size 1, which returns NaN for an empty plane)
    _check_pool_input(input, where)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(input.shape[2 + i] if size is None else size
                            for i, size in enumerate(output_size))
    output_size = _checks.check_pair(output_size, where, "output_size", minimum=1)
    return AdaptiveAvgPool2dFunction.apply(input, output_size)
