"""Dropout (Srivastava et al. 2014), inverted: scaled in training, the identity in eval."""
from __future__ import annotations

from .. import _checks
from .. import functional as F
from ..tensor import Tensor
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training mode, scaling the others by 1/(1-p).

    In eval mode it returns its input. Masks come from minidl's generator (manual_seed).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = _checks.check_number(p, "Dropout", "p", low=0, high=1)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
