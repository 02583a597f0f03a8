"""Optimizers never hand a kernel an unchecked array, and load_state_dict is all or nothing.

Issue 11, items 1 and 2. A gradient of the wrong size made SGD read past the end of its array
and Adam segfault; a loaded 0-d momentum buffer made the next step write out of bounds; a bad
hyperparameter in a loaded state was applied before it was refused. Every case here raises
before any kernel runs, so none of them touches memory it should not.
"""
import copy
import re

import numpy as np
import pytest

import minidl
from minidl import nn, optim
from minidl.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 3)]

OPTIMIZERS = {  # name -> factory; every optimizer in minidl.optim and its state variants
    "SGD": lambda params: optim.SGD(params, lr=0.1),
    "SGD-momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    "SGD-nesterov": lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "Adam": lambda params: optim.Adam(params, lr=0.01),
    "Adam-amsgrad": lambda params: optim.Adam(params, lr=0.01, amsgrad=True),
    "AdamW": lambda params: optim.AdamW(params, lr=0.01),
    "Adagrad": lambda params: optim.Adagrad(params, lr=0.01),
}
STATEFUL = [name for name in OPTIMIZERS if name != "SGD"]
ARRAY_STATE = {  # what each stateful optimizer keeps per parameter, arrays of its shape
    "SGD-momentum": ["momentum_buffer"], "SGD-nesterov": ["momentum_buffer"],
    "Adam": ["exp_avg", "exp_avg_sq"], "Adam-amsgrad": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "AdamW": ["exp_avg", "exp_avg_sq"], "Adagrad": ["sum"],
}
STEP_COUNTED = ["Adam", "Adam-amsgrad", "AdamW", "Adagrad"]


def make_params(dtype=np.float32):
    rng = np.random.default_rng(0)
    return [nn.Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]


def set_grads(params, seed=1):
    rng = np.random.default_rng(seed)
    for param in params:
        param.grad = minidl.tensor(rng.standard_normal(param.shape).astype(param.dtype))


def stepped(name, steps=2):
    """(params, optimizer) after `steps` valid steps, so that the optimizer has state."""
    params = make_params()
    optimizer = OPTIMIZERS[name](params)
    for step in range(steps):
        set_grads(params, seed=step)
        optimizer.step()
    return params, optimizer


def assert_same(a, b, where="state"):
    """a and b are equal nested dicts/lists of arrays and plain values (arrays: same dtype)."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{index}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), where  # (NaN equals NaN here)


class Snapshot:
    """The parameters' values and the optimizer's whole state, to check nothing changed."""

    def __init__(self, params, optimizer):
        self.params, self.optimizer = params, optimizer
        self.values = [param.data.copy() for param in params]
        self.state = optimizer.state_dict()
        self.groups = optimizer.param_groups

    def assert_unchanged(self):
        for index, (param, value) in enumerate(zip(self.params, self.values)):
            np.testing.assert_array_equal(param.data, value, err_msg=f"param {index}")
        assert self.optimizer.param_groups is self.groups
        assert_same(self.optimizer.state_dict(), self.state)


# ============================== step(): what reaches the kernels ==============================
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("bad_shape", [(2,), (1000,), (), (2, 6)],
                         ids=["shorter", "longer", "0-d", "same-size"])
def test_a_gradient_of_another_shape_is_refused_before_any_update(kernel_set, name, bad_shape):
    params, optimizer = stepped(name)
    set_grads(params)
    params[2].grad = minidl.tensor(np.ones(bad_shape, np.float32))
    snapshot = Snapshot(params, optimizer)
    message = (f"{type(optimizer).__name__}: param_groups[0]['params'][2]: expected .grad of "
               f"shape (2, 3) (the parameter's), got {bad_shape}")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        optimizer.step()
    snapshot.assert_unchanged()  # params 0 and 1 were not updated either: the step is atomic


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_gradient_of_another_dtype_is_refused(kernel_set, name):
    params, optimizer = stepped(name)
    set_grads(params)
    params[1].grad = minidl.tensor(np.ones(5, np.float64))
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(TypeError, match=r"\['params'\]\[1\]: expected \.grad of dtype float32 "
                                        r"\(the parameter's\), got float64"):
        optimizer.step()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("grad", [np.ones(5, np.float32), [1.0] * 5, 0.5],
                         ids=["ndarray", "list", "float"])
def test_a_gradient_that_is_not_a_tensor_is_refused(name, grad):
    params, optimizer = stepped(name)
    set_grads(params)
    params[1].grad = grad
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(TypeError, match=r"\[1\]: expected \.grad to be a minidl\.Tensor or None"):
        optimizer.step()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_replaced_read_only_data_is_refused(kernel_set, name):
    params, optimizer = stepped(name)
    set_grads(params)
    params[2].data = params[2].data.copy()
    params[2].data.flags.writeable = False
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(ValueError, match=r"\[2\]: expected \.data to be writeable"):
        optimizer.step()
    snapshot.assert_unchanged()


class ArraySubclass(np.ndarray):
    """Kernels take plain arrays: reshape(-1) of a subclass (np.matrix) need not be 1-D."""


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("replacement", [
    pytest.param(lambda data: data.astype(np.float16), id="float16"),
    pytest.param(lambda data: data.astype(np.int64), id="int64"),
    pytest.param(lambda data: data.tolist(), id="list"),
    pytest.param(lambda data: data.view(ArraySubclass), id="ndarray-subclass"),
])
def test_replaced_data_of_another_type_or_dtype_is_refused(name, replacement):
    params, optimizer = stepped(name)
    set_grads(params)
    params[0].data = replacement(params[0].data)
    with pytest.raises(TypeError, match=r"\[0\]: expected \.data (to be a NumPy array|of dtype "
                                        r"float32 or float64)"):
        optimizer.step()


@pytest.mark.parametrize("name", STATEFUL)
def test_replaced_data_of_another_shape_does_not_fit_the_state(kernel_set, name):
    """.data and .grad agree, but the state was made for the old shape."""
    params, optimizer = stepped(name)
    set_grads(params)
    params[1].data = np.zeros(50, np.float32)
    params[1].grad = minidl.tensor(np.ones(50, np.float32))
    key = ARRAY_STATE[name][0]
    with pytest.raises(ValueError, match=rf"\[1\]: state\['{key}'\]: expected shape \(50,\) "
                                         rf"\(the parameter's\), got \(5,\)"):
        optimizer.step()


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("edit, error, message", [
    (lambda a: np.zeros((), a.dtype), ValueError, "expected shape"),
    (lambda a: np.zeros(a.size + 1, a.dtype), ValueError, "expected shape"),
    (lambda a: a.astype(np.float64), TypeError, "expected dtype float32"),
    (lambda a: np.asfortranarray(a), ValueError, "expected a C-contiguous, writeable array"),
    (lambda a: a.tolist(), TypeError, "expected a NumPy array"),
], ids=["0-d", "longer", "float64", "fortran", "list"])
def test_state_arrays_edited_by_hand_are_checked(kernel_set, name, edit, error, message):
    params, optimizer = stepped(name)
    set_grads(params)
    key = ARRAY_STATE[name][-1]
    optimizer.state[params[0]][key] = edit(optimizer.state[params[0]][key])
    with pytest.raises(error, match=rf"\['params'\]\[0\]: state\['{key}'\]: {message}"):
        optimizer.step()


@pytest.mark.parametrize("name", STATEFUL)
def test_read_only_state_arrays_are_refused(name):
    params, optimizer = stepped(name)
    set_grads(params)
    optimizer.state[params[2]][ARRAY_STATE[name][0]].flags.writeable = False
    with pytest.raises(ValueError, match=r"\[2\]: state.*C-contiguous, writeable"):
        optimizer.step()


@pytest.mark.parametrize("name", STEP_COUNTED)
@pytest.mark.parametrize("count, error", [(-2, ValueError), (2.0, TypeError), (None, TypeError),
                                          (np.array(2), TypeError), (2**63, ValueError)])
def test_step_counts_edited_by_hand_are_checked(name, count, error):
    params, optimizer = stepped(name)
    set_grads(params)
    optimizer.state[params[1]]["step"] = count
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(error, match=r"\[1\]: state\['step'\]: expected a step count"):
        optimizer.step()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", STEP_COUNTED)  # (SGD's only key gone: a state of no step)
def test_state_without_a_key_its_kernel_reads_is_refused(name):
    params, optimizer = stepped(name)
    set_grads(params)
    key = ARRAY_STATE[name][-1]
    del optimizer.state[params[0]][key]
    with pytest.raises(ValueError, match=rf"\[0\]: its state has no '{key}'"):
        optimizer.step()


def test_switching_amsgrad_on_after_steps_is_refused_not_run_on_the_wrong_buffer():
    params, optimizer = stepped("Adam")
    optimizer.param_groups[0]["amsgrad"] = True
    set_grads(params)
    with pytest.raises(ValueError, match="its state has no 'max_exp_avg_sq'"):
        optimizer.step()


def test_the_check_names_the_group_and_the_index_in_it_and_the_step_stays_atomic(kernel_set):
    params = make_params()
    optimizer = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1,
                          momentum=0.9)
    set_grads(params)
    optimizer.step()
    set_grads(params, seed=5)
    params[2].grad = minidl.tensor(np.ones(7, np.float32))
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(ValueError, match=r"^SGD: param_groups\[1\]\['params'\]\[0\]: "):
        optimizer.step()
    snapshot.assert_unchanged()  # group 0, checked and valid, was not updated either


@pytest.mark.parametrize("name, key, value, error", [
    ("SGD", "lr", -1.0, ValueError),
    ("SGD", "lr", "0.1", TypeError),  # NumPy would have parsed the string
    ("SGD-momentum", "momentum", None, TypeError),
    ("SGD-nesterov", "dampening", 0.5, ValueError),
    ("Adam", "betas", (0.9, 1.0), ValueError),
    ("AdamW", "weight_decay", float("nan"), ValueError),
    ("Adagrad", "eps", -1e-10, ValueError),
])
def test_hyperparameters_set_between_steps_are_checked_before_any_update(name, key, value,
                                                                         error):
    """Set on the second group, so that the first, valid one shows the step is atomic."""
    params = make_params()
    optimizer = OPTIMIZERS[name]([{"params": params[:2]}, {"params": params[2:]}])
    set_grads(params)
    optimizer.step()
    optimizer.param_groups[1][key] = value
    snapshot = Snapshot(params, optimizer)
    where = rf"^{type(optimizer).__name__}: param_groups\[1\]: "
    with pytest.raises(error, match=where + "(expected|Nesterov momentum requires)"):
        optimizer.step()
    snapshot.assert_unchanged()


def test_hyperparameters_deleted_from_a_group_are_a_clear_error():
    params = make_params()
    optimizer = optim.SGD(params, lr=0.1)
    del optimizer.param_groups[0]["momentum"]
    set_grads(params)
    with pytest.raises(ValueError, match=r"param_groups\[0\]: the group has no 'momentum'"):
        optimizer.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_non_contiguous_data_and_gradients_are_used_through_contiguous_arrays(kernel_set, name):
    """The rule kept from before: a non-contiguous .data is replaced by a contiguous copy of it
    (the kernels update a flat view in place); a non-contiguous gradient is read as a copy."""
    params, optimizer = stepped(name)
    twins, twin_optimizer = stepped(name)
    set_grads(params, seed=9)
    set_grads(twins, seed=9)
    params[0].data = np.asfortranarray(params[0].data)
    params[0].grad = minidl.tensor(np.asfortranarray(params[0].grad.data))
    optimizer.step()
    twin_optimizer.step()
    assert params[0].data.flags.c_contiguous
    for param, twin in zip(params, twins):
        np.testing.assert_array_equal(param.data, twin.data)


def test_float64_parameters_take_float64_gradients(kernel_set):
    params = make_params(np.float64)
    optimizer = optim.Adam(params, lr=0.1)
    set_grads(params)
    optimizer.step()
    params[0].grad = minidl.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(TypeError, match="expected .grad of dtype float64"):
        optimizer.step()


# ===================== load_state_dict: per-parameter state, checked ==========================
def loaded_into_fresh(name, state):
    """Load `state` into a fresh optimizer of kind `name`; returns (snapshot, call)."""
    params = make_params()
    optimizer = OPTIMIZERS[name](params)
    set_grads(params)
    optimizer.step()  # some state of its own, which a refused load must leave in place
    return Snapshot(params, optimizer), lambda: optimizer.load_state_dict(state)


def saved_state(name):
    return stepped(name)[1].state_dict()


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("edit, error, message", [
    (lambda a: np.array(1.0, a.dtype), ValueError, r"expected shape \(5,\) \(the parameter's\), "
                                                   r"got \(\)"),
    (lambda a: np.zeros(4, a.dtype), ValueError, r"expected shape \(5,\)"),
    (lambda a: np.zeros((5, 1), a.dtype), ValueError, r"expected shape \(5,\)"),
    (lambda a: a.astype(np.float64), TypeError, "expected dtype float32"),
    (lambda a: a.tolist(), TypeError, r"expected an array of shape \(5,\), got list"),
    (lambda a: None, TypeError, r"expected an array of shape \(5,\), got NoneType"),
], ids=["0-d", "shorter", "2-d", "float64", "list", "None"])
def test_loaded_state_arrays_must_fit_their_parameter(name, edit, error, message):
    state = saved_state(name)
    for key in ARRAY_STATE[name]:
        bad = copy.deepcopy(state)
        bad["state"][1][key] = edit(bad["state"][1][key])
        snapshot, load = loaded_into_fresh(name, bad)
        where = rf"load_state_dict: state\[1\] \(param_groups\[0\]\['params'\]\[1\]\)\['{key}'\]"
        with pytest.raises(error, match=f"{where}: {message}"):
            load()
        snapshot.assert_unchanged()


@pytest.mark.parametrize("name", STEP_COUNTED)
@pytest.mark.parametrize("count, error", [(-1, ValueError), (1.5, TypeError), (2.0, TypeError),
                                          (True, TypeError), ("2", TypeError),
                                          (np.array(2), TypeError), (2**63, ValueError)])
def test_loaded_step_counts_must_be_integers_in_range(name, count, error):
    state = saved_state(name)
    state["state"][0]["step"] = count
    snapshot, load = loaded_into_fresh(name, state)
    with pytest.raises(error, match=r"state\[0\] .*\['step'\]: expected a step count"):
        load()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", STEP_COUNTED)
def test_a_loaded_numpy_integer_step_count_becomes_an_int(name):
    state = saved_state(name)
    state["state"][0]["step"] = np.int64(2)
    params = make_params()
    optimizer = OPTIMIZERS[name](params)
    optimizer.load_state_dict(state)
    assert type(optimizer.state[params[0]]["step"]) is int


@pytest.mark.parametrize("name", STATEFUL)
def test_loaded_state_with_an_unknown_key_is_refused(name):
    state = saved_state(name)
    state["state"][2]["velocity"] = np.zeros((2, 3), np.float32)
    snapshot, load = loaded_into_fresh(name, state)
    with pytest.raises(ValueError, match=r"state\[2\] .*: unexpected keys \['velocity'\]"):
        load()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", STEP_COUNTED)  # (SGD's only key gone: a state of no step)
def test_loaded_state_without_a_key_is_refused(name):
    state = saved_state(name)
    key = ARRAY_STATE[name][-1]
    del state["state"][0][key]
    snapshot, load = loaded_into_fresh(name, state)
    with pytest.raises(ValueError, match=rf"state\[0\] .*: missing keys \['{key}'\]"):
        load()
    snapshot.assert_unchanged()


def test_adam_state_without_amsgrad_loaded_with_amsgrad_on_is_refused():
    state = saved_state("Adam")
    state["param_groups"][0]["amsgrad"] = True
    snapshot, load = loaded_into_fresh("Adam", state)
    with pytest.raises(ValueError, match=r"missing keys \['max_exp_avg_sq'\]"):
        load()
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", STATEFUL)
def test_loaded_state_is_a_copy_and_the_step_goes_on_as_before(kernel_set, name):
    params, optimizer = stepped(name)
    state = optimizer.state_dict()
    twins = [nn.Parameter(param.data.copy()) for param in params]
    restored = OPTIMIZERS[name](twins)
    restored.load_state_dict(state)
    for entry in state["state"].values():  # editing the dict afterwards changes nothing
        for value in entry.values():
            if isinstance(value, np.ndarray):
                value[...] = np.nan
    set_grads(params, seed=3)
    set_grads(twins, seed=3)
    optimizer.step()
    restored.step()
    for param, twin in zip(params, twins):
        np.testing.assert_array_equal(param.data, twin.data)


@pytest.mark.parametrize("name", STATEFUL)
def test_state_saved_to_a_file_and_loaded_resumes_the_same_steps(tmp_path, name):
    params, optimizer = stepped(name)
    minidl.save(optimizer.state_dict(), tmp_path / "optimizer.safetensors")
    twins = [nn.Parameter(param.data.copy()) for param in params]
    restored = OPTIMIZERS[name](twins)
    restored.load_state_dict(minidl.load(tmp_path / "optimizer.safetensors"))
    set_grads(params, seed=4)
    set_grads(twins, seed=4)
    optimizer.step()
    restored.step()
    for param, twin in zip(params, twins):
        np.testing.assert_array_equal(param.data, twin.data)


# ================ load_state_dict: hyperparameters and structure, all or nothing ==============
@pytest.mark.parametrize("name, key, value, error", [
    ("SGD", "lr", -1, ValueError),
    ("SGD", "lr", "0.1", TypeError),
    ("SGD-momentum", "momentum", -0.9, ValueError),
    ("SGD-momentum", "nesterov", "yes", TypeError),
    ("SGD-nesterov", "dampening", 0.5, ValueError),  # valid alone; Nesterov needs 0
    ("Adam", "betas", (0.9, 1.5), ValueError),
    ("Adam", "betas", 0.9, TypeError),
    ("AdamW", "eps", float("nan"), ValueError),
    ("Adagrad", "lr_decay", -1, ValueError),
    ("Adagrad", "initial_lr", -0.5, ValueError),  # kept for learning-rate schedulers
])
def test_a_bad_hyperparameter_leaves_the_optimizer_unchanged(name, key, value, error):
    state = saved_state(name)
    state["param_groups"][0][key] = value
    snapshot, load = loaded_into_fresh(name, state)
    with pytest.raises(error, match=r"load_state_dict: param_groups\[0\]: "):
        load()
    snapshot.assert_unchanged()


def test_the_state_of_another_optimizer_is_refused():
    snapshot, load = loaded_into_fresh("Adam", saved_state("SGD-momentum"))
    with pytest.raises(ValueError, match=r"lacks \['betas', 'eps', 'amsgrad'\] .*another "
                                         r"optimizer than Adam"):
        load()
    snapshot.assert_unchanged()
    snapshot, load = loaded_into_fresh("SGD-momentum", saved_state("Adam"))
    with pytest.raises(ValueError, match=r"lacks \['momentum', 'dampening', 'nesterov'\]"):
        load()
    snapshot.assert_unchanged()


def two_group_state():
    params = make_params()
    optimizer = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1, momentum=0.9)
    set_grads(params)
    optimizer.step()
    return optimizer.state_dict()


def with_groups(state, groups):
    return {**state, "param_groups": groups}


MALFORMED = [  # (name, edit of a two-group SGD state, error, message)
    ("not a dict", lambda s: [s], TypeError, "expected a dict with 'state' and 'param_groups'"),
    ("no state", lambda s: {"param_groups": s["param_groups"]}, ValueError,
     "expected a dict with keys 'state' and 'param_groups'"),
    ("no groups", lambda s: {"state": s["state"]}, ValueError, "keys 'state' and 'param_groups'"),
    ("an extra key", lambda s: {**s, "epoch": 3}, ValueError, "got keys"),
    ("groups not a list", lambda s: with_groups(s, s["param_groups"][0]), TypeError,
     "'param_groups' to be a list of dicts"),
    ("a group not a dict", lambda s: with_groups(s, [s["param_groups"][0], [1, 2]]), TypeError,
     "'param_groups' to be a list of dicts"),
    ("a group without params",
     lambda s: with_groups(s, [s["param_groups"][0], {"lr": 0.1}]), ValueError,
     r"param_groups\[1\] has no 'params'"),
    ("params not a list", lambda s: with_groups(
        s, [s["param_groups"][0], {**s["param_groups"][1], "params": 1}]), TypeError,
     r"param_groups\[1\]\['params'\] to be a list of parameter indices"),
    ("a float index", lambda s: with_groups(
        s, [s["param_groups"][0], {**s["param_groups"][1], "params": [1.0, 2]}]), TypeError,
     "parameter indices"),
    ("one group", lambda s: with_groups(s, s["param_groups"][:1]), ValueError,
     r"the saved groups have \[1\] parameters, this optimizer has \[1, 2\]"),
    ("three groups", lambda s: with_groups(s, s["param_groups"] + s["param_groups"][:1]),
     ValueError, "appears more than once"),
    ("other sizes", lambda s: with_groups(
        s, [{**s["param_groups"][0], "params": [0, 1]}, {**s["param_groups"][1], "params": [2]}]),
     ValueError, r"have \[2, 1\] parameters, this optimizer has \[1, 2\]"),
    ("a repeated index", lambda s: with_groups(
        s, [s["param_groups"][0], {**s["param_groups"][1], "params": [1, 1]}]), ValueError,
     "parameter index 1 appears more than once"),
    ("state not a dict", lambda s: {**s, "state": [s["state"][0]]}, TypeError,
     "'state' to be a dict"),
    ("a string state key", lambda s: {**s, "state": {"0": s["state"][0]}}, TypeError,
     r"keys of 'state' to be parameter indices \(ints\), got '0'"),
    ("a state key of no group", lambda s: {**s, "state": {7: s["state"][0]}}, ValueError,
     r"state\[7\] is for parameter 7, which is in no parameter group"),
    ("a parameter's state not a dict", lambda s: {**s, "state": {0: [1.0]}}, TypeError,
     r"state\[0\] \(param_groups\[0\]\['params'\]\[0\]\): expected a dict of state"),
]


@pytest.mark.parametrize("edit, error, message", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_state_dicts_raise_a_clear_error_and_change_nothing(edit, error, message):
    params = make_params()
    optimizer = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.3, momentum=0.5)
    set_grads(params)
    optimizer.step()
    snapshot = Snapshot(params, optimizer)
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(edit(two_group_state()))
    snapshot.assert_unchanged()


def test_a_valid_two_group_state_still_loads():
    params = make_params()
    optimizer = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.3, momentum=0.5)
    optimizer.load_state_dict(two_group_state())
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.1]
    assert sorted(len(optimizer.state[p]) for p in params) == [1, 1, 1]


# ========================== lr_scheduler.load_state_dict ======================================
SCHEDULERS = {
    "StepLR": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 4, 4], gamma=0.5),
    "ExponentialLR": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5),
    "ReduceLROnPlateau": lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1),
}


def scheduler_after_steps(name, steps=3):
    optimizer = optim.SGD(make_params(), lr=0.1)
    scheduler = SCHEDULERS[name](optimizer)
    for step in range(steps):
        scheduler.step(1.0) if name == "ReduceLROnPlateau" else scheduler.step()
    return scheduler


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_saved_scheduler_attribute_is_checked_on_load(name):
    scheduler = scheduler_after_steps(name)
    assert set(type(scheduler)._state_checks) == set(scheduler.state_dict())


@pytest.mark.parametrize("name, key, value, error", [
    ("StepLR", "gamma", -1.0, ValueError),
    ("StepLR", "step_size", 0, ValueError),
    ("StepLR", "last_epoch", "3", ValueError),
    ("StepLR", "base_lrs", [0.1, 0.1], ValueError),
    ("MultiStepLR", "milestones", [2, 4], TypeError),
    ("MultiStepLR", "milestones", {2: 1, -4: 2}, ValueError),
    ("ExponentialLR", "_last_lr", [-0.1], ValueError),
    ("CosineAnnealingLR", "T_max", 2.5, ValueError),
    ("ReduceLROnPlateau", "mode", "maximum", ValueError),
    ("ReduceLROnPlateau", "factor", 1.0, ValueError),
    ("ReduceLROnPlateau", "patience", -1, ValueError),
    ("ReduceLROnPlateau", "min_lrs", 0.0, ValueError),
])
def test_a_bad_scheduler_value_leaves_the_scheduler_unchanged(name, key, value, error):
    bad = scheduler_after_steps(name).state_dict()
    bad[key] = value
    scheduler = scheduler_after_steps(name, steps=1)
    before = scheduler.state_dict()
    with pytest.raises(error, match=rf"{name}\.load_state_dict: '{key}': expected"):
        scheduler.load_state_dict(bad)
    assert_same(scheduler.state_dict(), before)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_a_scheduler_state_with_other_keys_is_refused(name):
    scheduler = scheduler_after_steps(name)
    before = scheduler.state_dict()
    with pytest.raises(TypeError, match=r"load_state_dict: expected a dict"):
        scheduler.load_state_dict([before])
    with pytest.raises(ValueError, match=r"unexpected keys \['optimizer'\]"):
        scheduler.load_state_dict({**before, "optimizer": None})
    missing = dict(before)
    del missing["last_epoch"]
    with pytest.raises(ValueError, match=r"missing keys \['last_epoch'\]"):
        scheduler.load_state_dict(missing)
    assert_same(scheduler.state_dict(), before)
    assert isinstance(scheduler.optimizer, optim.SGD)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_a_scheduler_state_saved_to_a_file_resumes_the_sequence(tmp_path, name):
    scheduler = scheduler_after_steps(name)
    minidl.save(scheduler.state_dict(), tmp_path / "scheduler.safetensors")
    resumed = scheduler_after_steps(name, steps=0)
    resumed.load_state_dict(minidl.load(tmp_path / "scheduler.safetensors"))
    for group, own in zip(resumed.optimizer.param_groups, scheduler.optimizer.param_groups):
        group["lr"] = own["lr"]
    for _ in range(4):
        for each in (scheduler, resumed):
            each.step(2.0) if name == "ReduceLROnPlateau" else each.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()


def test_scheduler_state_dict_is_a_copy():
    scheduler = scheduler_after_steps("MultiStepLR")
    state = scheduler.state_dict()
    state["base_lrs"][0] = 5.0
    state["milestones"][2] = 9
    assert scheduler.base_lrs == [0.1] and scheduler.milestones[2] == 1


def test_a_hyperparameter_list_changed_in_place_is_checked_again():
    param = minidl.nn.Parameter(np.ones(3, np.float32))
    optimizer = minidl.optim.Adam([param], betas=[0.9, 0.999])
    param.grad = minidl.tensor(np.ones(3, np.float32))
    optimizer.step()
    optimizer.param_groups[0]["betas"][0] = 5.0  # the same list object, another number
    before = param.data.copy()
    with pytest.raises(ValueError, match="beta"):
        optimizer.step()
    np.testing.assert_array_equal(param.data, before)
