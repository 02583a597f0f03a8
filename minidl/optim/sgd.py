"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov (PyTorch's)."""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..backend import kernel
from .optimizer import ARRAY, Optimizer


class SGD(Optimizer):
    """SGD, with PyTorch's update rule (torch.optim.SGD):

        g = grad + weight_decay * param
        buf = g                                        (first step)
        buf = momentum * buf + (1 - dampening) * g     (later steps)
        g = g + momentum * buf if nesterov else buf
        param = param - lr * g

    Parameters that are frozen (requires_grad=False) or have no gradient are skipped by every
    term, weight decay included.

    Args:
        params: model.parameters() or a list of parameter-group dicts.
        lr: learning rate (>= 0).
        momentum, dampening, weight_decay: >= 0 (default 0).
        nesterov: Nesterov momentum; needs momentum > 0 and dampening 0.

    Example:
        >>> optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    _state_kinds = {"momentum_buffer": ARRAY}  # only with momentum != 0

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict) -> None:
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            _checks.check_number(group[name], "SGD", name, low=0)
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"SGD: expected nesterov to be True or False, got "
                            f"{group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0 and dampening 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns closure() if one is given."""
        loss = closure() if closure is not None else None
        sgd_step = kernel("sgd_step")
        for group, params_and_grads in self._checked_step_inputs():
            # read once per group, not once per parameter (the loop body runs 8-14 times per
            # step for the MNIST MLPs, where every Python operation shows)
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for param, grad in params_and_grads:
                state = self.state[param]
                first_step = "momentum_buffer" not in state
                if momentum != 0 and first_step:
                    state["momentum_buffer"] = np.empty_like(param.data)
                buffer = state.get("momentum_buffer", grad)  # untouched when momentum == 0
                sgd_step(param.data, grad, buffer, lr, momentum, dampening, weight_decay,
                         nesterov, first_step)
        return loss
