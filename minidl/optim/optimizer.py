"""Optimizer: parameter groups, per-parameter state, zero_grad and (de)serialisation."""
from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np

from ..tensor import Tensor


class Optimizer:
    """Base class. Subclasses set `defaults` and implement `step()`.

    `param_groups` is a list of dicts, each with 'params' (a list of tensors) and the
    hyperparameters that apply to them; `state[param]` holds per-parameter state such as
    momentum buffers.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)  # param -> its state (e.g. momentum buffer)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a single Tensor; pass model.parameters() or [tensor]")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                f"{type(param).__name__}")
            if param.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__} can only optimize floating point "
                                f"tensors, got dtype {param.dtype}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{type(self).__name__}: some parameters appear more than once")
        group = {**self.defaults, **param_group, "params": params}
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict) -> None:
        """Subclasses raise ValueError for out-of-range values in `group`."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.data[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    @staticmethod
    def _params_with_grad(group: dict):
        """(param, grad array) for each parameter of `group` that takes part in this step.

        Frozen parameters (requires_grad=False) and parameters without a gradient are skipped
        by every term of the update, weight decay included. The kernels update a flat view of
        the parameter in place, so its array is made contiguous first (once).
        """
        for param in group["params"]:
            grad = param.grad
            if grad is None or not param._requires_grad:
                continue
            data = param.data
            if not data.flags.c_contiguous:
                param.data = np.ascontiguousarray(data)
            yield param, np.ascontiguousarray(grad.data)

    # ----- state_dict in PyTorch's layout: parameters are referred to by their index ------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                index.setdefault(id(param), len(index))
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {index[id(param)]: {key: _copy(value) for key, value in param_state.items()}
                 for param, param_state in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups', got {type(state_dict).__name__}")
        if len(groups) != len(self.param_groups) or any(
                len(saved["params"]) != len(own["params"])
                for saved, own in zip(groups, self.param_groups)):
            raise ValueError(f"{name}.load_state_dict: the saved groups have "
                             f"{[len(g['params']) for g in groups]} parameters, this optimizer "
                             f"has {[len(g['params']) for g in self.param_groups]}")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            by_index.update(zip(saved["params"], own["params"]))
        new_state = defaultdict(dict)
        for key, param_state in state_dict["state"].items():
            param = by_index[int(key)]
            new_state[param] = {k: _loaded(v, param, f"{name} state[{key}][{k!r}]")
                                for k, v in param_state.items()}
        for saved, own in zip(groups, self.param_groups):
            own.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            self._check_hyperparameters(own)
        self.state = new_state


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)


def _loaded(value, param: Tensor, where: str):
    array = value.data if isinstance(value, Tensor) else value
    if isinstance(array, np.ndarray) and array.ndim > 0:
        if array.shape != param.shape or array.dtype != param.dtype:
            raise ValueError(f"{where}: expected shape {param.shape} and dtype {param.dtype}, "
                             f"got {array.shape} and {array.dtype}")
        return np.ascontiguousarray(array).copy()
    return _copy(value)
