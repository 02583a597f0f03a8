"""F.dropout: inverted dropout, y = x * mask / (1 - p) in training, the identity otherwise."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..autograd.engine import Node
from ..backend import kernel
from ..random import default_generator
from ..tensor import Tensor


class DropoutFunction(Node):
    def forward(self, x, keep, scale):
        self.keep, self.scale = keep, scale  # backward applies the same mask and scale
        return kernel("dropout_apply")(x, keep, scale)

    def backward(self, grad_output):
        return kernel("dropout_apply")(grad_output, self.keep, self.scale), None, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training only).

    The mask is drawn from minidl's generator: `minidl.manual_seed` makes it reproducible.
    """
    _checks.check_float_tensor(input, "dropout")
    _checks.check_number(p, "dropout", "p", low=0, high=1)
    if not training or p == 0:
        return input
    keep = default_generator().random(input.shape, dtype=np.float32) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return DropoutFunction.apply(input, keep, scale)
