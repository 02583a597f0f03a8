"""Learning-rate schedules, with PyTorch's formulas and call conventions.

Call `scheduler.step()` once per epoch, after `optimizer.step()`. Creating a scheduler counts as
epoch 0 and records each group's starting rate as `initial_lr`. The schedules are written in
PyTorch's "chainable" form (each step updates the current rate), so two schedulers on one
optimizer compose as they do in PyTorch.
"""
from __future__ import annotations

import copy
import math
from collections import Counter

import numpy as np

from .. import _checks
from .optimizer import Optimizer


# ----- checks of a loaded state: check(value, where, number of parameter groups) -> value -----
def _count(value, where: str, groups: int = 0) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}: expected an integer >= 0, got {value!r}")
    return int(value)


def _positive_int(value, where: str, groups: int = 0) -> int:
    return _checks.check_positive_int(value, where, "the value")


def _non_negative(value, where: str, groups: int = 0):
    return _checks.check_number(value, where, "the value", low=0)


def _number(value, where: str, groups: int = 0):
    return _checks.check_number(value, where, "the value")  # any, inf included; not NaN


def _fraction(value, where: str, groups: int = 0):
    """A number in [0, 1) (ReduceLROnPlateau's factor)."""
    if _checks.check_number(value, where, "the value", low=0) >= 1:
        raise ValueError(f"{where}: expected a number in [0, 1), got {value}")
    return value


def _rates(value, where: str, groups: int) -> list:
    """One learning rate (a number >= 0) per parameter group."""
    if not isinstance(value, (list, tuple)) or len(value) != groups:
        raise ValueError(f"{where}: expected a list of {groups} rates (one per parameter "
                         f"group), got {value!r}")
    return [_non_negative(rate, where) for rate in value]


def _milestones(value, where: str, groups: int = 0) -> Counter:
    """{epoch: how many times it was given}, as MultiStepLR keeps them."""
    if not isinstance(value, dict):
        raise TypeError(f"{where}: expected a dict of milestones, got {type(value).__name__}")
    return Counter({_checks.check_positive_int(epoch, where, "each milestone"):
                    _checks.check_positive_int(times, where, "each milestone's count")
                    for epoch, times in value.items()})


def _one_of(*choices):
    def check(value, where: str, groups: int = 0):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{where}: expected one of {choices}, got {value!r}")
        return value
    return check


def _state_of(scheduler) -> dict:
    """The scheduler's attributes but its optimizer, copied (training on does not change it)."""
    return {key: copy.deepcopy(value) for key, value in scheduler.__dict__.items()
            if key != "optimizer"}


def _load_checked(scheduler, state_dict) -> None:
    """Set the attributes in state_dict (what `_state_of` gave) once all of them are checked:
    the same keys as the scheduler's own state, each value by `_state_checks`."""
    where = f"{type(scheduler).__name__}.load_state_dict"
    if not isinstance(state_dict, dict):
        raise TypeError(f"{where}: expected a dict (from state_dict()), got "
                        f"{type(state_dict).__name__}")
    own_keys = set(_state_of(scheduler))
    missing = sorted(own_keys - state_dict.keys())
    unexpected = sorted(state_dict.keys() - own_keys, key=repr)
    if missing or unexpected:
        problems = [f"{what} keys {keys}" for what, keys in
                    (("missing", missing), ("unexpected", unexpected)) if keys]
        raise ValueError(f"{where}: not the state of a {type(scheduler).__name__}: "
                         f"{', '.join(problems)}")
    groups = len(scheduler.optimizer.param_groups)
    loaded = {}
    for key, value in state_dict.items():
        value = copy.deepcopy(value)
        check = scheduler._state_checks.get(key)  # None: a subclass's own attribute
        loaded[key] = value if check is None else check(value, f"{where}: {key!r}", groups)
    scheduler.__dict__.update(loaded)


class LRScheduler:
    """Base class: subclasses implement `get_lr()` from `self.last_epoch` and the current rates."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in group for group in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}: resuming with last_epoch={last_epoch} needs "
                           f"'initial_lr' in every parameter group")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch and set each group's learning rate."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last step (one per parameter group)."""
        return list(self._last_lr)

    # what each saved value must be, by attribute (subclasses add their settings)
    _state_checks = {"base_lrs": _rates, "last_epoch": _count, "_step_count": _count,
                     "_last_lr": _rates}

    def state_dict(self) -> dict:
        return _state_of(self)

    def load_state_dict(self, state_dict: dict) -> None:
        """Load what `state_dict()` gave: every value is checked first, then all are applied
        (after a ValueError or TypeError the scheduler is as it was)."""
        _load_checked(self, state_dict)


class StepLR(LRScheduler):
    """Multiply the rate by gamma every step_size epochs:
    lr = initial_lr * gamma^(epoch // step_size)."""

    _state_checks = {**LRScheduler._state_checks, "step_size": _positive_int,
                     "gamma": _non_negative}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _checks.check_positive_int(step_size, "StepLR", "step_size")
        self.gamma = _checks.check_number(gamma, "StepLR", "gamma", low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the rate by gamma at each milestone epoch."""

    _state_checks = {**LRScheduler._state_checks, "milestones": _milestones,
                     "gamma": _non_negative}

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        milestones = list(milestones)
        for milestone in milestones:
            _checks.check_positive_int(milestone, "MultiStepLR", "each milestone")
        self.milestones = Counter(milestones)
        self.gamma = _checks.check_number(gamma, "MultiStepLR", "gamma", low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the rate by gamma every epoch."""

    _state_checks = {**LRScheduler._state_checks, "gamma": _non_negative}

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _checks.check_number(gamma, "ExponentialLR", "gamma", low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts):

        lr_t = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed recursively, as PyTorch does, so that it composes with other schedulers.
    """

    _state_checks = {**LRScheduler._state_checks, "T_max": _positive_int,
                     "eta_min": _non_negative}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _checks.check_positive_int(T_max, "CosineAnnealingLR", "T_max")
        self.eta_min = _checks.check_number(eta_min, "CosineAnnealingLR", "eta_min", low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, period, floor = self.last_epoch, self.T_max, self.eta_min
        if epoch == 0:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:  # resumed: use the closed form
            return [floor + (base - floor) * (1 + math.cos(epoch * math.pi / period)) / 2
                    for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:  # restarting the cosine from its trough
            return [lr + (base - floor) * (1 - math.cos(math.pi / period)) / 2
                    for lr, base in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1)
                                                                          / period))
        return [ratio * (lr - floor) + floor for lr in self._current_lrs()]


class ReduceLROnPlateau:
    """Divide the rate by 1/factor when a metric has stopped improving for `patience` epochs.

    Call `step(metric)` once per epoch with the validation loss (mode='min') or accuracy
    (mode='max'). Improvement means better than the best by more than `threshold`
    (relative, threshold_mode='rel', or absolute, 'abs').
    """

    _state_checks = {
        "mode": _one_of("min", "max"), "factor": _fraction, "patience": _count,
        "threshold": _non_negative, "threshold_mode": _one_of("rel", "abs"), "cooldown": _count,
        "min_lrs": _rates, "eps": _non_negative, "best": _number, "num_bad_epochs": _count,
        "cooldown_counter": _count, "last_epoch": _count, "_last_lr": _rates,
    }

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8):
        where = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{where}: expected an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: expected mode 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}: expected threshold_mode 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        if not (isinstance(factor, (int, float)) and 0 <= factor < 1):
            raise ValueError(f"{where}: expected factor in [0, 1), got {factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}: expected {name} to be an integer >= 0, got {value!r}")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold = _checks.check_number(threshold, where, "threshold", low=0)
        self.threshold_mode, self.cooldown = threshold_mode, cooldown
        self.min_lrs = self._per_group(min_lr, where)
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _per_group(self, min_lr, where) -> list[float]:
        groups = len(self.optimizer.param_groups)
        values = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(values) != groups:
            raise ValueError(f"{where}: expected {groups} min_lr values, got {len(values)}")
        return [_checks.check_number(v, where, "min_lr", low=0) for v in values]

    def _is_better(self, value: float) -> bool:
        # PyTorch's comparisons, including the relative one's sign handling
        if self.mode == "min" and self.threshold_mode == "rel":
            return value < self.best * (1.0 - self.threshold)
        if self.mode == "min":
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (1.0 + self.threshold)
        return value > self.best + self.threshold

    def step(self, metrics) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            new_lr = max(group["lr"] * self.factor, min_lr)
            if group["lr"] - new_lr > self.eps:  # ignore changes too small to matter
                group["lr"] = new_lr

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return _state_of(self)

    def load_state_dict(self, state_dict: dict) -> None:
        """As LRScheduler.load_state_dict: everything checked, then applied."""
        _load_checked(self, state_dict)
