"""Bad input raises ValueError/TypeError naming the layer, what it expected and what came."""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


def t(*shape, dtype=np.float32):
    return minidl.tensor(np.ones(shape, dtype))


def test_linear_wrong_feature_count_names_layer_expected_and_got():
    with pytest.raises(ValueError, match=r"Linear\(784, 100\): expected input of shape "
                                         r"\(N, 784\), got \(60, 785\)"):
        nn.Linear(784, 100)(t(60, 785))


def test_linear_image_input_suggests_flatten():
    with pytest.raises(ValueError, match="flatten the input first"):
        nn.Linear(784, 10)(t(8, 1, 28, 28))


def test_float64_input_to_float32_layer_is_not_cast():
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): expected input of dtype float32.*"
                                        r"got float64"):
        nn.Linear(3, 2)(t(4, 3, dtype=np.float64))
    with pytest.raises(TypeError, match=r"BatchNorm1d\(3\): expected input of dtype float32"):
        nn.BatchNorm1d(3)(t(4, 3, dtype=np.float64))


def test_integer_input_where_floats_are_needed():
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): expected input of dtype float32 or "
                                        r"float64, got int64"):
        nn.Linear(3, 2)(minidl.tensor(np.ones((4, 3), np.int32)))
    with pytest.raises(TypeError, match="sigmoid: expected input of dtype float32 or float64"):
        F.sigmoid(minidl.tensor(np.arange(3)))


def test_arrays_instead_of_tensors_are_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"expected input to be a minidl.Tensor, got ndarray; "
                                        r"wrap arrays with minidl.tensor"):
        nn.Linear(3, 2)(np.ones((4, 3), np.float32))


@pytest.mark.parametrize("layer, shape, message", [
    (nn.BatchNorm1d(3), (4, 5), r"BatchNorm1d\(3\): expected input of shape \(N, 3\) or "
                                r"\(N, 3, L\), got \(4, 5\)"),
    (nn.BatchNorm1d(3), (4, 3, 2, 2), r"got \(4, 3, 2, 2\)"),
    (nn.BatchNorm2d(3), (4, 3, 5), r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\), "
                                   r"got \(4, 3, 5\)"),
    (nn.BatchNorm2d(3), (4, 1, 5, 5), r"got \(4, 1, 5, 5\)"),
])
def test_batch_norm_wrong_rank_or_channels(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(t(*shape))


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=0.0), r"BatchNorm1d: expected eps in \(0, inf\], got 0.0"),
    (dict(eps=-1e-5), "expected eps in"),
    (dict(momentum=1.5), r"expected momentum in \[0, 1\], got 1.5"),
    (dict(momentum=-0.1), "expected momentum in"),
])
def test_batch_norm_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.BatchNorm1d(3, **kwargs)


def test_layer_sizes_must_be_positive_integers():
    with pytest.raises(ValueError, match="Linear: expected in_features to be a positive integer"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 2.5)


@pytest.mark.parametrize("target, error, message", [
    (np.array([0, 1, 5]), ValueError, r"expected target values in \[0, 4\] for 5 classes, got 5"),
    (np.array([0, -1, 2]), ValueError, "got -1"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "expected integer class indices as target, got "
                                           "dtype float64"),
    (np.array([0, 1]), ValueError, r"expected target of shape \(3,\) for input of shape "
                                   r"\(3, 5\), got \(2,\)"),
    ([0, 1, 2], TypeError, "expected target to be an integer NumPy array or Tensor, got list"),
])
def test_cross_entropy_targets(target, error, message):
    with pytest.raises(error, match=message):
        nn.CrossEntropyLoss()(t(3, 5), target)


def test_cross_entropy_accepts_integer_tensors_and_rejects_probabilities():
    logits = t(3, 5)
    assert F.cross_entropy(logits, minidl.tensor(np.array([0, 1, 4]))).shape == ()
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C\) holding logits"):
        F.cross_entropy(t(5), np.array([1]))
    with pytest.raises(ValueError, match="reduction 'mean', 'sum' or 'none', got 'avg'"):
        nn.CrossEntropyLoss(reduction="avg")


def test_mse_loss_shapes_must_match():
    with pytest.raises(ValueError, match=r"mse_loss: expected target of shape \(4, 1\), "
                                         r"got \(4,\)"):
        F.mse_loss(t(4, 1), t(4))


def test_softmax_dim_out_of_range():
    with pytest.raises(ValueError, match=r"softmax: dim 2 is out of range for input of shape"):
        F.softmax(t(2, 3), dim=2)


def test_batch_norm_function_checks_buffers():
    with pytest.raises(ValueError, match=r"batch_norm: expected running_mean of shape \(3,\), "
                                         r"got \(4,\)"):
        F.batch_norm(t(4, 3), t(4), t(4), training=True)
    with pytest.raises(ValueError, match="evaluation mode"):
        F.batch_norm(t(4, 3), None, None, training=False)


def test_nan_and_inf_propagate_through_a_network(kernel_set):
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Sigmoid(), nn.Linear(6, 3))
    x = np.zeros((5, 4), np.float32)
    x[2, 1] = np.nan
    loss = F.cross_entropy(model(minidl.tensor(x)), np.array([0, 1, 2, 0, 1]))
    assert np.isnan(loss.item())
    x[2, 1] = np.inf
    out = nn.Linear(4, 3)(minidl.tensor(x)).data
    assert not np.isfinite(out[2]).any()  # inf * w + finite: +-inf, never a finite number
    assert np.isfinite(np.delete(out, 2, axis=0)).all()
