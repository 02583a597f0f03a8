"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with PyTorch's update rules."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..backend import kernel
from .optimizer import ARRAY, COUNT, Optimizer

_MOMENTS = frozenset({"step", "exp_avg", "exp_avg_sq"})
_MOMENTS_AMSGRAD = _MOMENTS | {"max_exp_avg_sq"}


class Adam(Optimizer):
    """Adam: per-parameter steps from running averages of the gradient and its square.

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    weight_decay adds weight_decay * param to the gradient (L2); use AdamW for decoupled
    decay. amsgrad uses the running maximum of v (Reddi et al. 2018). Frozen parameters and
    parameters without a gradient are skipped entirely (their step count does not advance).

    Args:
        params: model.parameters() or parameter-group dicts.
        lr (1e-3), betas ((0.9, 0.999)), eps (1e-8), weight_decay (0), amsgrad (False).
    """

    _decoupled_weight_decay = False
    _state_kinds = {"step": COUNT, "exp_avg": ARRAY, "exp_avg_sq": ARRAY, "max_exp_avg_sq": ARRAY}

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict) -> None:
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            _checks.check_number(group[key], name, key, low=0)
        betas = group["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"{name}: expected betas to be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            _checks.check_number(beta, name, f"betas[{index}]", low=0)
            if beta >= 1:
                raise ValueError(f"{name}: expected betas[{index}] in [0, 1), got {beta}")
        if not isinstance(group["amsgrad"], bool):
            raise TypeError(f"{name}: expected amsgrad to be True or False, got "
                            f"{group['amsgrad']!r}")

    def _required_state(self, group: dict) -> frozenset:
        # the running maximum exists only with amsgrad (and must, once the state does: the
        # kernel would otherwise update the maximum in exp_avg_sq itself)
        return _MOMENTS_AMSGRAD if group["amsgrad"] else _MOMENTS

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns closure() if one is given."""
        loss = closure() if closure is not None else None
        adam_step = kernel("adam_step")
        for group, params_and_grads in self._checked_step_inputs():
            beta1, beta2 = group["betas"]
            for param, grad in params_and_grads:
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                adam_step(param.data, grad, state["exp_avg"], state["exp_avg_sq"],
                          state.get("max_exp_avg_sq", state["exp_avg_sq"]), group["lr"], beta1,
                          beta2, group["eps"], group["weight_decay"],
                          self._decoupled_weight_decay, group["amsgrad"], state["step"])
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: param *= 1 - lr * weight_decay before the Adam step
    (the decay does not pass through the adaptive scaling). Default weight_decay 1e-2."""

    _decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
