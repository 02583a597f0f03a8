"""Linear (fully connected) layer, and Identity."""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from ..functional.linear import LinearFunction
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        dtype: float32 (default) or float64.

    Shape:
        input (*, in_features) -> output (*, out_features).
        weight (out_features, in_features), bias (out_features,), as in PyTorch.

    Initialisation (PyTorch's default): weight ~ kaiming_uniform(a=sqrt(5)), which is
    U(-1/sqrt(in_features), 1/sqrt(in_features)); bias ~ the same bound.

    Example:
        >>> layer = nn.Linear(784, 100)
        >>> layer(minidl.tensor(np.zeros((60, 784), np.float32))).shape
        (60, 100)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        self.in_features = _checks.check_positive_int(in_features, "Linear", "in_features")
        self.out_features = _checks.check_positive_int(out_features, "Linear", "out_features")
        self._name = f"Linear({in_features}, {out_features})"  # for error messages
        dtype = _checks.check_layer_dtype(dtype, self._name)
        # the shapes the parameters' arrays are checked against at every call
        self._weight_shape = (self.out_features, self.in_features)
        self._bias_shape = (self.out_features,)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        # The parameters straight from their table: `self.weight` goes through
        # Module.__getattr__ after a failed normal lookup (0.6 us against 0.06 us), and this
        # runs once per layer per step.
        try:
            weight, bias = self._parameters["weight"], self._parameters["bias"]
        except KeyError:  # removed with `del layer.bias`: the AttributeError, as before
            weight, bias = self.weight, self.bias
        if not self._is_plain_call(input, weight.data, bias):
            self._check_call(input, weight, bias)
        # the input and the parameters' arrays are checked above, so the checks of F.linear
        # are skipped
        return LinearFunction.apply(input, weight, bias)

    def _is_plain_call(self, input, weight_data, bias) -> bool:
        """The common case, checked cheaply (see _checks.is_plain_tensor/is_plain_array): the
        parameters' arrays (which the user may have replaced) have the layer's shapes and
        one float dtype, and the input has that dtype and in_features."""
        if weight_data.__class__ is not np.ndarray:
            return False
        dtype = weight_data.dtype  # is_plain_tensor checks that it is float32 or float64
        return (weight_data.shape == self._weight_shape
                and (bias is None or _checks.is_plain_array(bias.data, self._bias_shape, dtype))
                and _checks.is_plain_tensor(input, dtype) and input.data.ndim >= 1
                and input.data.shape[-1] == self.in_features)

    def _check_call(self, input, weight, bias) -> None:
        """Every check of the parameters and the input, raising the error that names what is
        wrong (or accepting an unusual but valid call)."""
        where = self._name
        _checks.check_state_array(weight, self._weight_shape, None, where, "weight")
        if bias is not None:
            _checks.check_state_array(bias, self._bias_shape, weight.dtype, where, "bias")
        _checks.check_float_tensor(input, where)
        if input.ndim < 1 or input.shape[-1] != self.in_features:
            raise ValueError(f"{where}: expected input of shape (N, {self.in_features}), got "
                             f"{input.shape}" + _flatten_hint(input.shape, self.in_features))
        _checks.check_same_dtype(input, weight, where)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _flatten_hint(shape: tuple, in_features: int) -> str:
    if len(shape) > 2 and int(np.prod(shape[1:])) == in_features:
        return "; flatten the input first (nn.Flatten() or x.flatten(1))"
    return ""


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. a removed classifier head)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim (by default all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        _checks.check_tensor(input, "Flatten")
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
