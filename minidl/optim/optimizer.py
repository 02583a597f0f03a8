"""Optimizer: parameter groups, per-parameter state, zero_grad, the checks before every step,
and (de)serialisation."""
from __future__ import annotations

import copy
import numbers
import operator
from collections import defaultdict

import numpy as np

from .. import _checks
from .._checks import FLOAT32, FLOAT64, FLOAT_DTYPES
from ..tensor import Tensor

# What a per-parameter state entry holds (see Optimizer._state_kinds):
ARRAY = "array"  # an array of the parameter's shape and dtype, C-contiguous and writeable
COUNT = "count"  # a step counter: an int in [0, 2**63)
_COUNT_LIMIT = 2**63  # Adagrad turns the count into a float: a larger int would overflow it
_NDARRAY = np.ndarray  # read once: the per-step checks compare types with it


class Optimizer:
    """Base class. Subclasses set `defaults`, implement `step()` and declare their state.

    `param_groups` is a list of dicts, each with 'params' (a list of tensors) and the
    hyperparameters that apply to them; `state[param]` holds per-parameter state such as
    momentum buffers. Subclasses declare that state in `_state_kinds` ({key: ARRAY or COUNT})
    and, where a key is not always there, in `_required_state(group)`; `step()` (through
    `_checked_step_inputs`) and `load_state_dict()` check the state against it, so that no
    kernel ever reads or writes an array of the wrong shape, dtype or layout.
    """

    _state_kinds: dict[str, str] | None = None  # None: not declared, loaded without key checks

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)  # param -> its state (e.g. momentum buffer)
        self.param_groups: list[dict] = []
        self._checked_settings: dict = {}  # id(group) -> its hyperparameter values last checked
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

    def _required_state(self, group: dict) -> frozenset:
        """The keys a parameter's state holds once it has any (default: all of _state_kinds)."""
        return frozenset(self._state_kinds or ())

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.data[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    # ----- the checks before a step -------------------------------------------------------
    def _checked_step_inputs(self) -> list[tuple[dict, list]]:
        """[(group, [(param, grad array), ...]), ...]: the parameters that take part in this
        step, group by group, all of them checked before any is updated.

        Frozen parameters (requires_grad=False) and parameters without a gradient are skipped
        by every term of the update, weight decay included. For the others, gradients set by
        hand, `.data` replaced and state edited by hand all reach the kernels, which would read
        and write out of bounds: so each one's .grad (a Tensor of its shape and dtype), .data (a
        writeable float32 or float64 array) and the state its kernel reads and writes (see
        `_state_kinds`) are checked, with a ValueError or TypeError naming the parameter.
        Checking the whole step first makes it atomic: a bad gradient on one parameter leaves
        every parameter as it was. A group's hyperparameters are checked again when one was
        replaced since the last step (schedulers and users set them between steps).

        The kernels update a flat view of each parameter in place, so a non-contiguous
        param.data is replaced by a contiguous copy (after the checks); a non-contiguous
        gradient is read through a contiguous copy.
        """
        name, kinds = type(self).__name__, self._state_kinds or {}
        checked, scattered = [], []
        for group_index, group in enumerate(self.param_groups):
            self._check_replaced_hyperparameters(group, f"{name}: param_groups[{group_index}]")
            required = self._required_state(group)  # in a fixed order, for the messages:
            expected_state = tuple(item for item in kinds.items() if item[0] in required)
            pairs = []
            for index, param in enumerate(group["params"]):
                grad = param.grad
                if grad is None or not param._requires_grad:
                    continue
                data = param.data
                problem = _step_problem(data, grad, self.state.get(param), expected_state)
                if problem is not None:
                    error, detail = problem
                    raise error(f"{name}: param_groups[{group_index}]['params'][{index}]: "
                                f"{detail}")
                if not data.flags.c_contiguous:
                    scattered.append(param)
                pairs.append((param, np.ascontiguousarray(grad.data)))
            checked.append((group, pairs))
        for param in scattered:
            param.data = np.ascontiguousarray(param.data)
        for _, pairs in checked:  # the step is an in-place change: a pending backward that
            for param, _ in pairs:  # saved a parameter now refuses (autograd.VersionCounter)
                param._version.value += 1
        return checked

    def _check_replaced_hyperparameters(self, group: dict, where: str) -> None:
        """Run _check_hyperparameters on `group` unless its values are the very objects that
        passed last time (comparing identities costs far less than the checks). Values that
        can change in place (a list of betas) are checked at every step: the same object may
        hold other numbers now."""
        values = tuple(map(group.get, self.defaults))
        checked = self._checked_settings.get(id(group))
        if checked is not None and all(map(operator.is_, values, checked)):
            return
        self._check_group(group, where)
        if not any(isinstance(value, (list, dict, np.ndarray)) for value in values):
            self._checked_settings[id(group)] = values

    def _check_group(self, group: dict, where: str) -> None:
        """_check_hyperparameters, its errors prefixed with `where` (which group)."""
        try:
            self._check_hyperparameters(group)
            if "initial_lr" in group:  # set by a learning-rate scheduler
                _checks.check_number(group["initial_lr"], type(self).__name__, "initial_lr",
                                     low=0)
        except (TypeError, ValueError) as error:  # "SGD: expected ..." -> "<where>: expected ..."
            detail = str(error).removeprefix(f"{type(self).__name__}: ")
            raise type(error)(f"{where}: {detail}") from None
        except KeyError as error:  # a hyperparameter deleted from the group
            raise ValueError(f"{where}: the group has no {error}") from None

    # ----- state_dict in PyTorch's layout: parameters are referred to by their index ------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                index.setdefault(id(param), len(index))
            saved = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {index[id(param)]: {key: _copy(value) for key, value in param_state.items()}
                 for param, param_state in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load what `state_dict()` gave. Everything is checked first (the structure, the
        number and sizes of the groups, the parameter indices, each group's hyperparameters
        and each parameter's state against what this optimizer keeps), then applied at once:
        after a ValueError or TypeError the optimizer is as it was."""
        where = f"{type(self).__name__}.load_state_dict"
        saved_groups, saved_state = _split_state_dict(state_dict, where)
        position_of_index = _positions_of_indices(saved_groups, where)
        saved_sizes = [len(group["params"]) for group in saved_groups]
        own_sizes = [len(group["params"]) for group in self.param_groups]
        if saved_sizes != own_sizes:
            raise ValueError(f"{where}: the saved groups have {saved_sizes} parameters, this "
                             f"optimizer has {own_sizes}")
        groups = [self._loaded_group(saved, own, f"{where}: param_groups[{i}]")
                  for i, (saved, own) in enumerate(zip(saved_groups, self.param_groups))]
        state = defaultdict(dict)
        for key, param_state in saved_state.items():
            if not _is_int(key):
                raise TypeError(f"{where}: expected the keys of 'state' to be parameter indices "
                                f"(ints), got {key!r}")
            if key not in position_of_index:
                raise ValueError(f"{where}: state[{key!r}] is for parameter {key}, which is in "
                                 f"no parameter group")
            group_index, index = position_of_index[key]
            param = self.param_groups[group_index]["params"][index]
            state[param] = self._loaded_param_state(
                param_state, param, groups[group_index],
                f"{where}: state[{key}] (param_groups[{group_index}]['params'][{index}])")
        for own, loaded in zip(self.param_groups, groups):  # all checked: apply
            own.update(loaded)
        self.state = state

    def _loaded_group(self, saved, own: dict, where: str) -> dict:
        """The hyperparameters of a saved group (copied), checked as add_param_group does."""
        missing = [key for key in self.defaults if key not in saved]
        if missing:
            raise ValueError(f"{where}: the saved group lacks {missing} (is it the state of "
                             f"another optimizer than {type(self).__name__}?)")
        loaded = {key: copy.deepcopy(value) for key, value in saved.items() if key != "params"}
        self._check_group({**own, **loaded}, where)
        return loaded

    def _loaded_param_state(self, saved, param: Tensor, group: dict, where: str) -> dict:
        """One parameter's saved state, checked against `_state_kinds` and copied."""
        if not isinstance(saved, dict):
            raise TypeError(f"{where}: expected a dict of state, got {type(saved).__name__}")
        if self._state_kinds is None:
            return {key: _copy(value) for key, value in saved.items()}
        unknown = [key for key in saved if key not in self._state_kinds]
        if unknown:
            raise ValueError(f"{where}: unexpected keys {unknown}; {type(self).__name__} keeps "
                             f"{sorted(self._state_kinds)}")
        missing = sorted(self._required_state(group) - saved.keys()) if saved else []
        if missing:
            raise ValueError(f"{where}: missing keys {missing}")
        return {key: _loaded_value(value, self._state_kinds[key], param, f"{where}[{key!r}]")
                for key, value in saved.items()}


def _step_problem(data, grad, state, expected_state: tuple):
    """What keeps a parameter out of a step, as (exception class, message), or None.

    data is param.data, state its optimizer state (None or {} before its first step: the step
    creates it), expected_state the ((key, kind), ...) its kernel reads. This runs for every
    parameter at every step, so it makes attribute comparisons only, dtypes by identity first.
    """
    if type(data) is not _NDARRAY:
        return TypeError, f"expected .data to be a NumPy array, got {type(data).__name__}"
    dtype = data.dtype
    if dtype is not FLOAT32 and dtype is not FLOAT64 and dtype not in FLOAT_DTYPES:
        return TypeError, f"expected .data of dtype float32 or float64, got {dtype}"
    if not data.flags.writeable:
        return ValueError, ("expected .data to be writeable (the step updates it in place), got "
                            "a read-only array; give the parameter a copy")
    if not isinstance(grad, Tensor):
        return TypeError, (f"expected .grad to be a minidl.Tensor or None, got "
                           f"{type(grad).__name__}")
    grad, shape = grad.data, data.shape
    if type(grad) is not _NDARRAY:
        return TypeError, f"expected .grad.data to be a NumPy array, got {type(grad).__name__}"
    if grad.shape != shape:
        return ValueError, f"expected .grad of shape {shape} (the parameter's), got {grad.shape}"
    if grad.dtype is not dtype and grad.dtype != dtype:
        return TypeError, (f"expected .grad of dtype {dtype} (the parameter's), got "
                           f"{grad.dtype}; nothing is cast silently")
    if state:
        for key, kind in expected_state:
            if key not in state:
                return ValueError, f"its state has no {key!r}"
            value = state[key]
            if kind is ARRAY:
                problem = _array_problem(value, shape, dtype)
            elif type(value) is int and 0 <= value < _COUNT_LIMIT:
                continue  # the common step count, without a call
            else:
                problem = _count_problem(value)
            if problem is not None:
                return problem[0], f"state[{key!r}]: {problem[1]}"
    return None


def _array_problem(value, shape: tuple, dtype: np.dtype):
    """Why `value` cannot be state of a parameter of this shape and dtype, or None."""
    if type(value) is not _NDARRAY:
        return TypeError, f"expected a NumPy array, got {type(value).__name__}"
    if value.shape != shape:
        return ValueError, f"expected shape {shape} (the parameter's), got {value.shape}"
    if value.dtype is not dtype and value.dtype != dtype:
        return TypeError, f"expected dtype {dtype} (the parameter's), got {value.dtype}"
    flags = value.flags
    if not (flags.c_contiguous and flags.writeable):
        return ValueError, "expected a C-contiguous, writeable array (the step updates it in place)"
    return None


def _count_problem(value):
    if not _is_int(value):
        return TypeError, f"expected a step count (an int), got {value!r}"
    if not 0 <= value < _COUNT_LIMIT:
        return ValueError, f"expected a step count in [0, 2**63), got {value}"
    return None


def _is_int(value) -> bool:
    """An int or NumPy integer, not a bool (the common case, a plain int, tested first)."""
    return type(value) is int or (isinstance(value, numbers.Integral)
                                  and not isinstance(value, bool))


def _loaded_value(value, kind: str, param: Tensor, where: str):
    """A saved state value, checked to be of `kind` for `param`, as a fresh copy."""
    if kind is COUNT:
        problem = _count_problem(value)
        if problem is not None:
            raise problem[0](f"{where}: {problem[1]}")
        return int(value)
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where}: expected an array of shape {param.shape}, got "
                        f"{type(value).__name__}")
    array = np.array(array, copy=True, order="C")  # the optimizer's own, writeable copy
    problem = _array_problem(array, param.shape, param.dtype)
    if problem is not None:
        raise problem[0](f"{where}: {problem[1]}")
    return array


def _split_state_dict(state_dict, where: str) -> tuple[list, dict]:
    """state_dict's 'param_groups' and 'state', checked to have the layout state_dict() gives."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"{where}: expected a dict with 'state' and 'param_groups' (from "
                        f"state_dict()), got {type(state_dict).__name__}")
    if set(state_dict) != {"state", "param_groups"}:
        raise ValueError(f"{where}: expected a dict with keys 'state' and 'param_groups', got "
                         f"keys {sorted(state_dict, key=repr)}")
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not (isinstance(groups, (list, tuple)) and all(isinstance(g, dict) for g in groups)):
        raise TypeError(f"{where}: expected 'param_groups' to be a list of dicts, got "
                        f"{_describe(groups)}")
    if not isinstance(state, dict):
        raise TypeError(f"{where}: expected 'state' to be a dict, got {type(state).__name__}")
    return list(groups), state


def _positions_of_indices(saved_groups: list, where: str) -> dict:
    """{saved parameter index: (group index, index in the group)}, the indices checked."""
    positions = {}
    for group_index, group in enumerate(saved_groups):
        if "params" not in group:
            raise ValueError(f"{where}: param_groups[{group_index}] has no 'params'")
        indices = group["params"]
        if not (isinstance(indices, (list, tuple)) and all(map(_is_int, indices))):
            raise TypeError(f"{where}: expected param_groups[{group_index}]['params'] to be a "
                            f"list of parameter indices (ints), got {_describe(indices)}")
        for index, saved_index in enumerate(indices):
            if saved_index in positions:
                raise ValueError(f"{where}: parameter index {saved_index} appears more than "
                                 f"once in 'param_groups'")
            positions[saved_index] = (group_index, index)
    return positions


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {sorted({type(v).__name__ for v in value})}"
    return type(value).__name__


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)
