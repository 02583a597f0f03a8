"""Parity with PyTorch: minidl's numbers against golden fixtures that PyTorch 2.13 computed.

PyTorch is not needed here: tests/golden/make_fixtures.py (which says how to regenerate them)
ran PyTorch once and stored inputs, starting states and expected results in tests/golden/*.npz.
Each test rebuilds the same computation in minidl, under both kernel sets, and compares:

- every F function and its module: output, and the gradient with respect to the input and
  the parameters for a random upstream gradient;
- BatchNorm1d/2d over training steps then an eval step: outputs, gradients, running_mean,
  running_var and num_batches_tracked after every step;
- Ioffe & Szegedy's MNIST network trained 5 SGD steps: each loss, the final state_dict and
  the eval-mode logits, for momentum, Nesterov, weight decay with dampening, plain SGD and a
  frozen first layer.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl import nn
import minidl.nn.functional as F

GOLDEN = Path(__file__).resolve().parent / "golden"
RTOL = 1e-4


@lru_cache(maxsize=None)
def golden(name: str) -> dict:
    with np.load(GOLDEN / name) as arrays:
        return {key: arrays[key] for key in arrays.files}


def read_json(array: np.ndarray):
    return json.loads(str(array))


def assert_close(actual, expected, what: str, rtol: float = RTOL, atol: float = 1e-6) -> None:
    actual = actual.data if isinstance(actual, minidl.Tensor) else actual
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# ----- functions and their modules ---------------------------------------------------------------
FUNCTIONAL_CASES = read_json(golden("functional.npz")["cases"])
FUNCTIONS = {"linear": F.linear, "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu,
             "sigmoid": F.sigmoid, "tanh": F.tanh, "softmax": F.softmax,
             "log_softmax": F.log_softmax, "cross_entropy": F.cross_entropy,
             "mse_loss": F.mse_loss}
MODULES = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid,
           "tanh": nn.Tanh, "cross_entropy": nn.CrossEntropyLoss, "mse_loss": nn.MSELoss}


def functional_case(case: str):
    arrays = golden("functional.npz")
    config = read_json(arrays[f"{case}/config"])
    inputs = {name: arrays[f"{case}/{name}"] for name in config["inputs"]}
    expected = {key[len(case) + 1:]: value for key, value in arrays.items()
                if key.startswith(f"{case}/")}
    return config["op"], config["kwargs"], inputs, expected


def run_function(op: str, kwargs: dict, inputs: dict, api: str):
    """Call `op` through F (api 'F') or its nn module (api 'module'); return the output and
    the tensors whose gradients are compared, by the names the fixture uses."""
    leaves = {name: minidl.tensor(array, requires_grad=True)
              for name, array in inputs.items() if array.dtype.kind == "f"}
    if api == "F":
        arguments = {**inputs, **leaves}  # integer targets stay NumPy arrays
        return FUNCTIONS[op](**arguments, **kwargs), leaves
    if op == "linear":
        out_features, in_features = inputs["weight"].shape
        layer = nn.Linear(in_features, out_features, bias="bias" in inputs)
        layer.load_state_dict({name: inputs[name] for name in ("weight", "bias")
                               if name in inputs})
        return layer(leaves["input"]), {"input": leaves["input"], **dict(layer.named_parameters())}
    module = MODULES[op](**kwargs)
    if "target" in inputs:  # a loss module, given the target as a Tensor
        target = leaves.get("target", minidl.tensor(inputs["target"]))
        return module(leaves["input"], target), leaves
    return module(leaves["input"]), leaves


HAS_MODULE = set(MODULES) | {"linear"}  # softmax and log_softmax have no module in minidl
FUNCTIONAL_PARAMS = [pytest.param(case, api, id=f"{case}-{api}")
                     for case in FUNCTIONAL_CASES for api in ("F", "module")
                     if api == "F" or functional_case(case)[0] in HAS_MODULE]


@pytest.mark.parametrize("case, api", FUNCTIONAL_PARAMS)
def test_function_forward_and_backward_match_pytorch(kernel_set, case, api):
    op, kwargs, inputs, expected = functional_case(case)
    output, leaves = run_function(op, kwargs, inputs, api)
    assert_close(output, expected["output"], f"{case}: output")
    output.backward(expected["upstream"])
    for name, leaf in leaves.items():
        assert leaf.grad is not None, f"{case}: no gradient for {name}"
        assert_close(leaf.grad, expected[f"grad_{name}"], f"{case}: grad_{name}")


# ----- BatchNorm ---------------------------------------------------------------------------------
BATCHNORM_CASES = read_json(golden("batchnorm.npz")["cases"])


@pytest.mark.parametrize("case", BATCHNORM_CASES)
def test_batchnorm_steps_match_pytorch(kernel_set, case):
    arrays = golden("batchnorm.npz")
    config = read_json(arrays[f"{case}/config"])
    layer = getattr(nn, config["kind"])(config["channels"], **config["options"])
    initial = {key.split("/")[-1]: value for key, value in arrays.items()
               if key.startswith(f"{case}/initial/")}
    layer.load_state_dict(initial)  # strict: the keys must be PyTorch's
    for step in range(config["train_steps"] + 1):
        training = step < config["train_steps"]
        layer.train(training)
        layer.zero_grad()
        prefix = f"{case}/step{step}"
        where = f"{case}, step {step} ({'train' if training else 'eval'})"
        x = minidl.tensor(arrays[f"{prefix}/input"], requires_grad=True)
        y = layer(x)
        assert_close(y, arrays[f"{prefix}/output"], f"{where}: output", atol=1e-5)
        y.backward(arrays[f"{prefix}/upstream"])
        assert_close(x.grad, arrays[f"{prefix}/grad_input"], f"{where}: grad_input", atol=1e-5)
        if layer.affine:
            assert_close(layer.weight.grad, arrays[f"{prefix}/grad_weight"],
                         f"{where}: grad_weight", atol=1e-5)
            assert_close(layer.bias.grad, arrays[f"{prefix}/grad_bias"], f"{where}: grad_bias",
                         atol=1e-5)
        buffers = dict(layer.named_buffers())
        expected_buffers = {key.split("/")[-1] for key in arrays if key.startswith(f"{prefix}/")
                            and key.split("/")[-1] in ("running_mean", "running_var",
                                                       "num_batches_tracked")}
        assert set(buffers) == expected_buffers, f"{where}: buffers"
        for name, buffer in buffers.items():
            expected = arrays[f"{prefix}/{name}"]
            if name == "num_batches_tracked":
                assert buffer.dtype == np.int64 and int(buffer.data) == int(expected), where
            else:
                assert_close(buffer, expected, f"{where}: {name}")


# ----- Ioffe & Szegedy's MNIST network, trained with SGD -----------------------------------------
SGD_CASES = sorted(path.stem[len("mlp_"):] for path in GOLDEN.glob("mlp_*.npz")
                   if path.stem != "mlp_data")


def ioffe_szegedy_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(784, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 10))


def pixels_to_float(images: np.ndarray) -> np.ndarray:
    """As make_fixtures.py: uint8 pixels to float32 in [0, 1]."""
    return images.astype(np.float32) / np.float32(255)


@pytest.mark.parametrize("case", SGD_CASES)
def test_mnist_mlp_sgd_training_matches_pytorch(kernel_set, case):
    data, expected = golden("mlp_data.npz"), golden(f"mlp_{case}.npz")
    setup, config = read_json(data["config"]), read_json(expected["config"])
    batch, steps = setup["batch"], setup["steps"]
    initial = {key[len("initial/"):]: value for key, value in data.items()
               if key.startswith("initial/")}
    images, labels = pixels_to_float(data["images"]), data["labels"]

    model = ioffe_szegedy_mlp()
    model.load_state_dict(initial)  # strict: the keys must be PyTorch's
    for index in config["frozen"]:
        model[int(index)].requires_grad_(False)
    optimizer = minidl.optim.SGD(model.parameters(), **config["sgd"])
    loss_function = nn.CrossEntropyLoss()
    losses = []
    for step in range(steps):
        rows = slice(step * batch, (step + 1) * batch)
        optimizer.zero_grad()
        loss = loss_function(model(minidl.tensor(images[rows])), labels[rows])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    np.testing.assert_allclose(losses, expected["losses"], rtol=RTOL, err_msg=f"{case}: losses")

    final = {key: value.data for key, value in model.state_dict().items()}
    updates = {key[len("update/"):]: value for key, value in expected.items()
               if key.startswith("update/")}
    assert set(final) == set(updates), f"{case}: state_dict keys"
    for key, update in updates.items():
        if final[key].dtype.kind == "i":  # num_batches_tracked
            assert int(final[key]) == int(initial[key] + update), f"{case}: {key}"
            continue
        assert_close(final[key], initial[key] + update, f"{case}: final {key}")
        # and the update itself, relative to its own size: a small term of the update (weight
        # decay of 5e-4, say) barely shows against the weights
        assert_close(final[key] - initial[key], update, f"{case}: update of {key}", rtol=1e-3)
    for index in config["frozen"]:
        for name in ("weight", "bias"):
            np.testing.assert_array_equal(final[f"{index}.{name}"], initial[f"{index}.{name}"],
                                          err_msg=f"{case}: frozen {index}.{name} moved")

    model.eval()
    with minidl.no_grad():
        logits = model(minidl.tensor(images[steps * batch:]))
    assert_close(logits, expected["eval_logits"], f"{case}: eval logits", atol=1e-5)
