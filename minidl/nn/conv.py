"""Conv2d: a learnable 2-D convolution over NCHW input."""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from ..functional.conv import conv2d_in
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation) with zero padding, PyTorch's layout and defaults.

    out[n, o] = bias[o] + sum over c in o's group, i, j of
                weight[o, c, i, j] * x_padded[n, c, s_h h + d_h i, s_w w + d_w j]

    Args:
        in_channels, out_channels: C_in, C_out (both divisible by groups).
        kernel_size, stride (1), padding (0), dilation (1): an int or an (h, w) pair.
        groups: split the channels into groups convolved separately (default 1).
        bias: learn an additive bias (default True).

    Shape:
        input (N, C_in, H, W) -> output (N, C_out, H_out, W_out),
        H_out = (H + 2 padding - dilation (kernel - 1) - 1) // stride + 1.
        weight (C_out, C_in / groups, kh, kw), bias (C_out,).

    Initialisation (PyTorch's): weight ~ kaiming_uniform(a=sqrt(5)), bias ~
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in / groups * kh * kw.

    Example:
        >>> conv = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        >>> conv(minidl.tensor(np.zeros((8, 1, 28, 28), np.float32))).shape
        (8, 16, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=np.float32):
        super().__init__()
        where = "Conv2d"
        self.in_channels = _checks.check_positive_int(in_channels, where, "in_channels")
        self.out_channels = _checks.check_positive_int(out_channels, where, "out_channels")
        self.kernel_size = _checks.check_pair(kernel_size, where, "kernel_size", minimum=1)
        self.stride = _checks.check_pair(stride, where, "stride", minimum=1)
        self.padding = _checks.check_pair(padding, where, "padding", minimum=0)
        self.dilation = _checks.check_pair(dilation, where, "dilation", minimum=1)
        self.groups = _checks.check_positive_int(groups, where, "groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide both in_channels "
                             f"({in_channels}) and out_channels ({out_channels})")
        self._name = f"Conv2d({in_channels}, {out_channels})"  # for error messages
        dtype = _checks.check_layer_dtype(dtype, self._name)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self._weight_shape = shape  # checked at every call (the user may replace the array)
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        weight, bias = self.weight, self.bias
        # conv2d_in checks every array it is given; this names a weight whose array the user
        # replaced by one of another shape (it would be taken for another convolution)
        if weight is not None and (weight.data.__class__ is not np.ndarray
                                   or weight.data.shape != self._weight_shape):
            _checks.check_state_array(weight, self._weight_shape, None, self._name, "weight")
        return conv2d_in(self._name, input, weight, bias, self.stride, self.padding,
                         self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + (", bias=False" if self.bias is None else "")
