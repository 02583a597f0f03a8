"""minidl.load(weights_only=...): torch.load's argument, accepted as True (minidl's loads are
always weights-only), refused as False with a ValueError that says minidl never unpickles."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import minidl
from minidl import nn


def saved_model(tmp_path):
    minidl.manual_seed(0)
    model = nn.Linear(3, 2)
    path = tmp_path / "model.safetensors"
    minidl.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("weights_only", [True, None])
def test_weights_only_true_loads_as_before(tmp_path, weights_only):
    model, path = saved_model(tmp_path)
    state = minidl.load(path, weights_only=weights_only)
    assert list(state) == ["weight", "bias"]
    np.testing.assert_array_equal(state["weight"], model.weight.data)
    copy = nn.Linear(3, 2)
    copy.load_state_dict(state)
    np.testing.assert_array_equal(copy.bias.data, model.bias.data)


def test_weights_only_false_is_refused_before_the_file_is_read(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Evil(), protocol=4))
    with pytest.raises(ValueError, match="never unpickles.*weights-only"):
        minidl.load(path, weights_only=False)
    assert not marker.exists()
    _, good = saved_model(tmp_path)
    with pytest.raises(ValueError, match="weights_only=False"):
        minidl.load(good, weights_only=False)  # even for a file minidl could read


def test_weights_only_must_be_a_bool(tmp_path):
    _, path = saved_model(tmp_path)
    for bad in (1, "True", 0):
        with pytest.raises(TypeError, match="weights_only must be True or False"):
            minidl.load(path, weights_only=bad)


def test_load_still_refuses_pickles_with_the_default(tmp_path):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"weight": [1.0]}, protocol=4))
    with pytest.raises(ValueError, match="arbitrary code"):
        minidl.load(path, weights_only=True)


# ----- map_location, the other torch.load argument course code passes --------------------------


@pytest.mark.parametrize("map_location", [None, "cpu", "cpu:0", minidl.device("cpu")])
def test_map_location_cpu_loads_as_before(tmp_path, map_location):
    model, path = saved_model(tmp_path)
    state = minidl.load(path, map_location=map_location, weights_only=True)
    np.testing.assert_array_equal(state["weight"], model.weight.data)
    assert minidl.load(path, map_location)["bias"].tolist() == model.bias.data.tolist()


def test_map_location_other_than_the_cpu_is_refused(tmp_path):
    _, path = saved_model(tmp_path)
    for gpu in ("cuda", "cuda:0", "mps"):
        with pytest.raises(RuntimeError, match="CPU only"):
            minidl.load(path, map_location=gpu)
    for remapping in ({"cuda:0": "cpu"}, lambda storage, location: storage, 0):
        with pytest.raises(TypeError, match="map_location must be None, 'cpu'"):
            minidl.load(path, map_location=remapping)
    with pytest.raises(ValueError, match="expected 'cpu'"):
        minidl.load(path, map_location="gpu")
