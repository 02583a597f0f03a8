"""Adagrad (Duchi, Hazan & Singer 2011), with PyTorch's update rule."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..backend import kernel
from .optimizer import ARRAY, COUNT, Optimizer


class Adagrad(Optimizer):
    """Adagrad: each parameter's step shrinks with its accumulated squared gradients.

        clr = lr / (1 + (t - 1) * lr_decay)
        sum += g^2;   param -= clr * g / (sqrt(sum) + eps)      (g includes weight decay)

    Args:
        params: model.parameters() or parameter-group dicts.
        lr (1e-2), lr_decay (0), weight_decay (0), initial_accumulator_value (0), eps (1e-10).
    """

    _state_kinds = {"step": COUNT, "sum": ARRAY}

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _checks.check_number(group[key], "Adagrad", key, low=0)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns closure() if one is given."""
        loss = closure() if closure is not None else None
        adagrad_step = kernel("adagrad_step")
        for group, params_and_grads in self._checked_step_inputs():
            for param, grad in params_and_grads:
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])
                state["step"] += 1
                clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                adagrad_step(param.data, grad, state["sum"], clr, group["weight_decay"],
                             group["eps"])
        return loss
