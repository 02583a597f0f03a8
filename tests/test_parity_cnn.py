"""Golden parity with PyTorch for a small CNN trained five steps by SGD, Adam, AdamW and
Adagrad (tests/golden/cnn.npz, written by make_cnn_fixtures.py; PyTorch is not needed here)."""
import json
import pathlib

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn

GOLDEN = np.load(pathlib.Path(__file__).parent / "golden" / "cnn.npz")
CASES = sorted({key.split("/")[0] for key in GOLDEN.files if key.endswith("/config")})


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 5))


def test_all_optimizers_are_covered():
    assert {json.loads(str(GOLDEN[f"{case}/config"]))[0] for case in CASES} == {
        "SGD", "Adam", "AdamW", "Adagrad"}


@pytest.mark.parametrize("case", CASES)
def test_training_matches_pytorch(kernel_set, case):
    optimizer_name, options = json.loads(str(GOLDEN[f"{case}/config"]))
    model = network()
    initial = {key[len("initial/"):]: GOLDEN[key] for key in GOLDEN.files
               if key.startswith("initial/")}
    model.load_state_dict(initial)
    optimizer = getattr(minidl.optim, optimizer_name)(model.parameters(), **options)
    images, labels = GOLDEN["images"], GOLDEN["labels"]
    losses = []
    for step in range(len(labels)):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(minidl.tensor(images[step])), labels[step])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    np.testing.assert_allclose(losses, GOLDEN[f"{case}/losses"], rtol=1e-4)
    for key, value in model.state_dict().items():
        expected = GOLDEN[f"{case}/final/{key}"]
        if key.endswith("num_batches_tracked"):
            assert int(value.data) == int(expected)
            continue
        # the update (final - initial) too, so that small terms such as weight decay count
        np.testing.assert_allclose(value.data, expected, rtol=1e-4, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(value.data - initial[key], expected - initial[key],
                                   rtol=1e-3, atol=1e-5, err_msg=key)
    model.eval()
    with minidl.no_grad():
        logits = model(minidl.tensor(images[-1])).data
    np.testing.assert_allclose(logits, GOLDEN[f"{case}/eval_logits"], rtol=1e-4, atol=1e-5)
