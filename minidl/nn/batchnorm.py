"""Batch Normalization layers (Ioffe & Szegedy 2015), with PyTorch's semantics.

    y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias

In training mode E[x] and Var[x] are the batch mean and the BIASED batch variance over every
dimension but the channels; the running estimates are updated with the UNBIASED variance:
    running = (1 - momentum) * running + momentum * batch     (momentum=None: cumulative mean)
Note this `momentum` is the weight of the new value, not the optimizer's momentum.
In eval mode the running estimates are used. With track_running_stats=False there are no
running estimates and the batch statistics are used in both modes.
"""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..functional.batchnorm import run_batch_norm, values_per_channel
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


_INT64 = np.dtype(np.int64)


def _is_batch_counter(array) -> bool:
    """num_batches_tracked's array as the layer counts in it: a writeable int64 scalar."""
    return (array.__class__ is np.ndarray and array.dtype is _INT64 and array.shape == ()
            and array.flags.writeable)


def _check_batch_counter(tensor: Tensor, where: str) -> None:
    array = tensor.data
    if not (isinstance(array, np.ndarray) and array.dtype == _INT64 and array.shape == ()
            and array.flags.writeable):
        got = (f"{type(array).__name__}" if not isinstance(array, np.ndarray) else
               f"{'a read-only' if not array.flags.writeable else 'an'} array of dtype "
               f"{array.dtype} and shape {array.shape}")
        raise ValueError(f"{where}: expected num_batches_tracked to hold a writeable int64 "
                         f"scalar (shape ()), which training counts in, got {got}")


class _BatchNorm(Module):
    _expected_dims: tuple = ()  # the input ranks each subclass accepts
    _shape_text: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = _checks.check_positive_int(num_features, name, "num_features")
        self._name = f"{name}({num_features})"  # for error messages
        dtype = _checks.check_layer_dtype(dtype, self._name)
        self.eps = _checks.check_number(eps, name, "eps", low=0, low_inclusive=False)
        if momentum is not None:
            _checks.check_number(momentum, name, "momentum", low=0, high=1)
        self.momentum, self.affine = momentum, affine
        self._channel_shape = (self.num_features,)  # of every array of the state
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.empty(num_features, dtype=dtype))
            self.bias = Parameter(np.empty(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        # Parameters and buffers straight from their tables: each `self.running_mean` would go
        # through Module.__getattr__ (0.6 us against 0.06 us), about 8 of them per call.
        try:
            weight, bias = self._parameters["weight"], self._parameters["bias"]
            running_mean = self._buffers["running_mean"]
            running_var = self._buffers["running_var"]
            num_batches_tracked = self._buffers["num_batches_tracked"]
        except KeyError:  # one was removed with `del`: the AttributeError, as before
            weight, bias, running_mean = self.weight, self.bias, self.running_mean
            running_var, num_batches_tracked = self.running_var, self.num_batches_tracked
        state = (weight, bias, running_mean, running_var, num_batches_tracked)
        if not self._is_plain_call(input, *state):
            self._check_call(input, *state)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and num_batches_tracked is not None:
            num_batches_tracked.data += 1  # (None: not counted, as in PyTorch)
            if self.momentum is None:  # cumulative moving average over all batches so far
                factor = 1.0 / float(num_batches_tracked.data)
        use_batch_stats = self.training or running_mean is None
        keep_running = not self.training or self.track_running_stats
        return run_batch_norm(  # the input and every array of the state are checked above
            input,
            running_mean if keep_running else None,
            running_var if keep_running else None,
            weight, bias, use_batch_stats, factor, float(self.eps))

    def _is_plain_call(self, input, weight, bias, running_mean, running_var,
                       num_batches_tracked) -> bool:
        """The common case, checked cheaply (see _checks.is_plain_tensor/is_plain_array); False
        means "run _check_call", which raises or accepts an unusual but valid call.

        Every array of the state is the user's to replace (`.data = ...`, a new buffer) and
        reaches a kernel that indexes it by channel, so each is checked at every call: of
        shape (C,) and of the input's dtype; the running statistics, when this call updates
        them in place, writeable and C-contiguous, and the batch counter a writeable int64
        scalar."""
        if not isinstance(input, Tensor) or input.data.__class__ is not np.ndarray:
            return False
        data, shape, plain = input.data, self._channel_shape, _checks.is_plain_array
        dtype = data.dtype
        if not (_checks.is_plain_tensor(input, dtype) and data.ndim in self._expected_dims
                and data.shape[1] == self.num_features
                and (not self.training or data.size // self.num_features > 1)
                and (weight is None or plain(weight.data, shape, dtype))
                and (bias is None or plain(bias.data, shape, dtype))):
            return False
        if running_mean is None or running_var is None:
            return running_mean is running_var  # both None: no running statistics
        mean, var = running_mean.data, running_var.data
        if not (plain(mean, shape, dtype) and plain(var, shape, dtype)):
            return False
        if not (self.training and self.track_running_stats):
            return True  # the running statistics are only read
        writable = _checks.is_writable_in_place
        return (writable(mean) and writable(var)
                and (num_batches_tracked is None or _is_batch_counter(num_batches_tracked.data)))

    def _check_call(self, input, weight, bias, running_mean, running_var,
                    num_batches_tracked) -> None:
        """Every check of the input and the state, raising the error that names what is
        wrong (or accepting an unusual but valid call)."""
        where = self._name
        _checks.check_float_tensor(input, where)
        if input.ndim not in self._expected_dims or input.shape[1] != self.num_features:
            expected = self._shape_text.format(C=self.num_features)
            raise ValueError(f"{where}: expected input of shape {expected}, got {input.shape}")
        if (running_mean is None) != (running_var is None):
            raise ValueError(f"{where}: running_mean and running_var must both be Tensors or "
                             f"both be None")
        updated = self.training and self.track_running_stats
        reference = reference_name = None  # the first array of the state: the rest match it
        for name, tensor in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                             ("running_var", running_var)):
            if tensor is None:
                continue
            _checks.check_state_array(
                tensor, self._channel_shape, None if reference is None else reference.dtype,
                where, name, updated_in_place=updated and name.startswith("running"),
                dtype_of=reference_name)
            if reference is None:
                reference, reference_name = tensor, name
        if reference is not None:
            _checks.check_same_dtype(input, reference, where)
        if updated and num_batches_tracked is not None:
            _check_batch_counter(num_batches_tracked, where)
        if self.training and values_per_channel(input.shape) == 1:  # (an empty batch is fine)
            raise ValueError(f"{where}: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}; use a batch of at least 2 or "
                             f"call .eval()")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch Normalization over (N, C) or (N, C, L) input, per channel C.

    Args:
        num_features: C.
        eps: added to the variance for numerical stability (default 1e-5).
        momentum: weight of the new batch statistic in the running estimate (default 0.1);
            None for a cumulative average.
        affine: learn weight (init 1) and bias (init 0) (default True).
        track_running_stats: keep running_mean/running_var for eval mode (default True).

    Shape:
        input (N, C) or (N, C, L); output the same.

    Example:
        >>> bn = nn.BatchNorm1d(100)
        >>> y = bn(minidl.tensor(np.random.randn(60, 100).astype(np.float32)))
    """

    _expected_dims = (2, 3)
    _shape_text = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch Normalization over (N, C, H, W) input, per channel C (same arguments as
    BatchNorm1d).

    Shape:
        input (N, C, H, W); output the same.
    """

    _expected_dims = (4,)
    _shape_text = "(N, {C}, H, W)"
