"""Loss modules: CrossEntropyLoss (on logits) and MSELoss."""
from __future__ import annotations

from .. import _checks
from .. import functional as F
from ..tensor import Tensor
from .module import Module


class CrossEntropyLoss(Module):
    """log-softmax + negative log-likelihood on logits, with integer class targets.

    loss_i = -log(softmax(x_i)[y_i]) = logsumexp(x_i) - x_i[y_i]; reduced by mean (default),
    sum, or none.

    Shape:
        input (N, C) logits; target (N,) integers in [0, C) (NumPy array or Tensor).
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _checks.check_reduction(reduction, "CrossEntropyLoss")

    def forward(self, input: Tensor, target) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error: mean((input - target)^2) (or sum, or none)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _checks.check_reduction(reduction, "MSELoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)
