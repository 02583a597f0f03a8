"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (NCHW)."""
from __future__ import annotations

from .. import _checks
from ..functional.pooling import adaptive_avg_pool2d_in, avg_pool2d_in, max_pool2d_in
from ..tensor import Tensor
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _checks.check_pair(kernel_size, name, "kernel_size", minimum=1)
        self.stride = (self.kernel_size if stride is None else
                       _checks.check_pair(stride, name, "stride", minimum=1))
        self.padding = _checks.check_pair(padding, name, "padding", minimum=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding should be at most half of the kernel size, got "
                             f"padding {self.padding} for kernel_size {self.kernel_size}")

    def _where(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size})"

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum over kernel_size windows moved by stride (default: kernel_size).

    Shape: (N, C, H, W) -> (N, C, (H + 2 padding - kernel) // stride + 1, ...).
    The gradient goes to the maximum of each window (the first one on ties, as PyTorch).
    """

    def forward(self, input: Tensor) -> Tensor:
        return max_pool2d_in(self._where(), input, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Mean over kernel_size windows; with count_include_pad (default) zero padding counts in
    the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d_in(self._where(), input, self.kernel_size, self.stride, self.padding,
                             self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Mean over bins chosen so the output is output_size (1: global average pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        where = f"AdaptiveAvgPool2d({self.output_size})"
        return adaptive_avg_pool2d_in(where, input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
