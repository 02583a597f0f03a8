"""Learning-rate schedulers give PyTorch's sequences (tests/golden/lr_schedules.json)."""
import json
import pathlib

import numpy as np
import pytest

from minidl import nn
from minidl.optim import SGD, lr_scheduler

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "lr_schedules.json").read_text())
SCHEDULERS = {name: getattr(lr_scheduler, name) for name in
              ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
               "ReduceLROnPlateau")}


def make_optimizer():
    groups = [{"params": [nn.Parameter(np.zeros(1, np.float32))]},
              {"params": [nn.Parameter(np.zeros(1, np.float32))], "lr": 0.05}]
    return SGD(groups, lr=0.1, momentum=0.9)


def build(description, optimizer):
    """'StepLR(step_size=3, gamma=0.5)' -> StepLR(optimizer, step_size=3, gamma=0.5)."""
    call = description.replace("(", "(optimizer, ", 1)
    return eval(call, {"__builtins__": {}}, {**SCHEDULERS, "optimizer": optimizer})


@pytest.mark.parametrize("description", sorted(GOLDEN["cases"]))
def test_sequence_matches_pytorch(description):
    optimizer = make_optimizer()
    scheduler = build(description, optimizer)
    plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
    sequence = []
    for epoch in range(len(GOLDEN["metrics"])):
        scheduler.step(GOLDEN["metrics"][epoch]) if plateau else scheduler.step()
        sequence.append(scheduler.get_last_lr())
        assert [g["lr"] for g in optimizer.param_groups] == sequence[-1]
    np.testing.assert_allclose(sequence, GOLDEN["cases"][description], rtol=1e-12)


def test_state_dict_resumes_the_sequence():
    optimizer = make_optimizer()
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    for _ in range(4):
        scheduler.step()
    saved_state, saved_lrs = scheduler.state_dict(), [g["lr"] for g in optimizer.param_groups]
    expected = [scheduler.step() or scheduler.get_last_lr() for _ in range(3)]

    resumed_optimizer = make_optimizer()
    resumed = lr_scheduler.CosineAnnealingLR(resumed_optimizer, T_max=10)
    resumed.load_state_dict(saved_state)
    for group, lr in zip(resumed_optimizer.param_groups, saved_lrs):
        group["lr"] = lr
    assert [resumed.step() or resumed.get_last_lr() for _ in range(3)] == expected


@pytest.mark.parametrize("make, message", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size to be a positive integer"),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=-1), r"gamma in \[0, inf\]"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode 'min' or 'max'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), r"factor in \[0, 1\)"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_optimizer())


def test_needs_an_optimizer():
    with pytest.raises(TypeError, match="expected an Optimizer, got list"):
        lr_scheduler.StepLR([], step_size=1)
