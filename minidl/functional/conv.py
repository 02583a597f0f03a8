"""F.conv2d: 2-D cross-correlation over NCHW input, one graph node calling the conv kernels."""
from __future__ import annotations

from .. import _checks
from ..autograd.engine import Node
from ..tensor import Tensor
from ._empty import kernel_for


class Conv2dFunction(Node):
    returns_new_grads = True  # the kernels' outputs (see Node.returns_new_grads)

    def forward(self, x, weight, bias, stride, padding, dilation, groups):
        # backward needs x (for grad_weight), weight (for grad_input) and the geometry
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        self.geometry = (stride, padding, dilation, groups)
        # An empty batch goes to the NumPy reference: the Numba kernel allocates its im2col
        # scratch for a whole image before looking at the batch size (see _empty).
        self.empty = x.size == 0
        return kernel_for("conv2d_forward", self.empty)(x, weight, bias, stride, padding,
                                                         dilation, groups)

    def backward(self, grad_output):
        needs_x, needs_w, needs_b = self.needs_input_grad[:3]
        grads = kernel_for("conv2d_backward", self.empty)(
            grad_output, self.x, self.weight, *self.geometry, needs_x, needs_w,
            self.has_bias and needs_b)
        return (*grads, None, None, None, None)


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch's formula: floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) with zero padding.

    Shape:
        input (N, C_in, H, W); weight (C_out, C_in / groups, kh, kw); bias (C_out,);
        output (N, C_out, H_out, W_out), H_out = (H + 2 ph - dh (kh - 1) - 1) // sh + 1.
    """
    return conv2d_in("conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv2d_in(where: str, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    """conv2d whose error messages name `where` (the calling layer, e.g. 'Conv2d(3, 16)')."""
    stride = _checks.check_pair(stride, where, "stride", minimum=1)
    padding = _checks.check_pair(padding, where, "padding", minimum=0)
    dilation = _checks.check_pair(dilation, where, "dilation", minimum=1)
    groups = _checks.check_positive_int(groups, where, "groups")
    _checks.check_float_tensor(weight, where, "weight")
    _checks.check_float_tensor(input, where)
    if weight.ndim != 4:
        raise ValueError(f"{where}: expected weight of shape (C_out, C_in/groups, kh, kw), got "
                         f"{weight.shape}")
    out_channels, in_per_group, kh, kw = weight.shape
    if min(weight.shape) == 0:
        # PyTorch 2.13 refuses 0 output channels and a 0 kernel side, and for 0 input channels
        # returns an output with 0 channels (its shape rule says C_out): all refused here
        raise ValueError(f"{where}: expected weight of shape (C_out, C_in/groups, kh, kw) with "
                         f"every size at least 1, got {weight.shape}")
    if out_channels % groups:
        raise ValueError(f"{where}: groups={groups} must divide the {out_channels} output "
                         f"channels")
    in_channels = in_per_group * groups
    if input.ndim != 4 or input.shape[1] != in_channels:
        raise ValueError(f"{where}: expected input of shape (N, {in_channels}, H, W), got "
                         f"{input.shape}")
    _checks.check_same_dtype(input, weight, where)
    if bias is not None:
        _checks.check_float_tensor(bias, where, "bias")
        _checks.check_shape(bias, (out_channels,), where, "bias")
        _checks.check_same_dtype(bias, weight, where, "bias")
    height, width = input.shape[2:]
    if height == 0 or width == 0:  # as PyTorch: only the batch may be empty
        raise ValueError(f"{where}: expected input with a height and width of at least 1 (an "
                         f"empty batch is fine), got {input.shape}")
    out_h = conv_output_size(height, kh, stride[0], padding[0], dilation[0])
    out_w = conv_output_size(width, kw, stride[1], padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        effective = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        padded = (height + 2 * padding[0], width + 2 * padding[1])
        raise ValueError(f"{where}: the input of size {padded} (H, W after padding) is smaller "
                         f"than the kernel of size {effective} (after dilation); got input "
                         f"{input.shape}")
    return Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups)
