"""F.batch_norm (Ioffe & Szegedy 2015), one graph node calling the per-channel kernels.

Training (or no running statistics): normalise with the batch mean and the BIASED batch
variance, and, when running buffers are given, update them in place with the UNBIASED one:
    running = (1 - momentum) * running + momentum * batch_statistic
Evaluation: normalise with the running statistics, which are constants for the gradient.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from ..autograd.engine import Node
from ..backend import kernel
from ..tensor import Tensor
from ._empty import collapse_to, kernel_for
from .activations import relu


class BatchNormTrain(Node):
    """Batch statistics: the gradient flows through the mean and variance too."""

    def forward(self, x, weight, bias, eps, fuse_relu=False):
        x3d = collapse_to(x, 2)  # (N, C, L) view
        name = "batch_norm_relu_forward_train" if fuse_relu else "batch_norm_forward_train"
        y, mean, invstd, var = kernel(name)(x3d, weight, bias, eps)
        # backward needs x, the statistics and the affine parameters (bias only to recompute
        # the ReLU mask)
        self.x3d, self.mean, self.invstd, self.weight, self.bias = x3d, mean, invstd, weight, bias
        self.fuse_relu, self.input_shape = fuse_relu, x.shape
        self.batch_mean, self.batch_var = mean, var  # read by batch_norm() for running stats
        return y.reshape(x.shape)

    def backward(self, grad_output):
        g3d = grad_output.reshape(self.x3d.shape)
        if self.fuse_relu:
            grads = kernel("batch_norm_relu_backward_train")(
                g3d, self.x3d, self.mean, self.invstd, self.weight, self.bias)
        else:
            grads = kernel("batch_norm_backward_train")(
                g3d, self.x3d, self.mean, self.invstd, self.weight)
        grad_input, grad_weight, grad_bias = grads
        return grad_input.reshape(self.input_shape), grad_weight, grad_bias, None, None


class BatchNormEval(Node):
    """Running statistics: constants, so only the affine transform is differentiated."""

    def forward(self, x, weight, bias, mean, var, eps):
        x3d = collapse_to(x, 2)
        self.x3d, self.mean, self.weight, self.input_shape = x3d, mean, weight, x.shape
        self.invstd = (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(x.dtype)
        self.empty = x3d.size == 0  # the NumPy reference: an empty output, sums of 0
        y = kernel_for("batch_norm_forward_eval", self.empty)(x3d, mean, var, weight, bias, eps)
        return y.reshape(x.shape)

    def backward(self, grad_output):
        g3d = grad_output.reshape(self.x3d.shape)
        grad_input, grad_weight, grad_bias = kernel_for("batch_norm_backward_eval", self.empty)(
            g3d, self.x3d, self.mean, self.invstd, self.weight)
        return grad_input.reshape(self.input_shape), grad_weight, grad_bias, None, None, None


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch Normalization over the channel dimension 1 of (N, C), (N, C, L) or (N, C, H, W).

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch statistics when
    `training` (running buffers, if given, are updated in place) and the running statistics
    otherwise. `momentum` here is the factor of the new value in the running average (not the
    optimizer's momentum).

    Shape:
        input (N, C), (N, C, L) or (N, C, H, W); weight, bias, running_mean, running_var (C,).
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       fuse_relu=False)


def batch_norm_relu(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None,
                    training: bool = False, momentum: float = 0.1,
                    eps: float = 1e-5) -> Tensor:
    """relu(batch_norm(...)) in one node; in training, one fused kernel each way (the ReLU
    mask is recomputed from the input in backward, so ReLU costs almost nothing)."""
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       fuse_relu=True)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                fuse_relu):
    where = "batch_norm"
    _checks.check_float_tensor(input, where)
    if input.ndim < 2:
        raise ValueError(f"{where}: expected input of shape (N, C, ...), got {input.shape}")
    channels = input.shape[1]
    _checks.check_number(eps, where, "eps", low=0, low_inclusive=False)
    for name, tensor in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                         ("running_var", running_var)):
        if tensor is not None:
            # the running statistics of a training call are updated in place
            _checks.check_tensor(tensor, where, name)
            _checks.check_state_array(tensor, (channels,), input.dtype, where, name,
                                      updated_in_place=training and name.startswith("running"),
                                      dtype_of="the input")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{where}: running_mean and running_var must both be given or both be "
                         f"None")
    if not training and running_mean is None:
        raise ValueError(f"{where}: evaluation mode (training=False) needs running_mean and "
                         f"running_var")
    if training and values_per_channel(input.shape) == 1:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got "
                         f"input of shape {input.shape}")
    if training and running_mean is not None:
        _checks.check_number(momentum, where, "momentum", low=0, high=1)
    return run_batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                          float(eps), fuse_relu)


def run_batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                   fuse_relu=False):
    """batch_norm on arguments already checked (by `batch_norm` or by a BatchNorm layer)."""
    channels = input.shape[1]
    if weight is None:  # affine=False: the kernels always take a scale and a shift
        weight = Tensor._wrap(np.ones(channels, dtype=input.dtype))
    if bias is None:
        bias = Tensor._wrap(np.zeros(channels, dtype=input.dtype))
    if input.data.size == 0:
        return _batch_norm_of_nothing(input, weight, bias, eps)
    if not training:
        output = BatchNormEval.apply(input, weight, bias, running_mean.data, running_var.data,
                                     eps)
        return relu(output) if fuse_relu else output
    output, node = BatchNormTrain.apply_with_node(input, weight, bias, eps, fuse_relu)
    if running_mean is not None:
        _update_running_stats(node.batch_mean, node.batch_var, running_mean.data,
                              running_var.data, momentum, input.data.size // channels)
    return output


def values_per_channel(shape: tuple) -> int:
    """N * L for an input (N, C, ...): the count each channel's batch statistics are over."""
    return shape[0] * math.prod(shape[2:])


def _batch_norm_of_nothing(input, weight, bias, eps):
    """An empty input (N, C or a spatial size 0), in either mode: an empty output, zero
    gradients for weight and bias (sums over nothing) and the running statistics untouched;
    PyTorch 2.13 does the same (checked by hand; it still counts the batch in
    num_batches_tracked, as the layers here do). Batch statistics of nothing would be NaN, so
    the affine transform runs with placeholder statistics; no element reads them."""
    channels = input.shape[1]
    placeholder_mean = np.zeros(channels, dtype=input.dtype)
    placeholder_var = np.ones(channels, dtype=input.dtype)
    return BatchNormEval.apply(input, weight, bias, placeholder_mean, placeholder_var, eps)


def _update_running_stats(batch_mean, batch_var, running_mean, running_var, momentum, count):
    """running = (1 - momentum) * running + momentum * batch, in place, with the unbiased
    variance (Ioffe & Szegedy 2015, Alg. 2: unbiased for inference, biased for normalisation)."""
    running_mean *= 1.0 - momentum
    running_mean += momentum * batch_mean
    running_var *= 1.0 - momentum
    running_var += (momentum * count / (count - 1)) * batch_var
