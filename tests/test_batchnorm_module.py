"""BatchNorm semantics (PyTorch's), checked against the formulas written out in NumPy."""
import numpy as np
import pytest

import minidl
from minidl import nn


def as_tensor(array):
    return minidl.tensor(array.astype(np.float32))


@pytest.mark.parametrize("layer, shape, axes", [
    (nn.BatchNorm1d, (16, 4), (0,)),
    (nn.BatchNorm1d, (8, 4, 5), (0, 2)),
    (nn.BatchNorm2d, (4, 4, 3, 5), (0, 2, 3)),
])
def test_training_normalises_with_biased_and_tracks_unbiased_variance(kernel_set, rng, layer,
                                                                      shape, axes):
    bn = layer(4)
    running_mean, running_var = np.zeros(4), np.ones(4)
    for step in range(3):
        x = rng.normal(5.0, 3.0, size=shape)
        y = bn(as_tensor(x)).data
        n = x.size // 4
        mean, biased = x.mean(axis=axes), x.var(axis=axes)
        expand = [slice(None) if i == 1 else None for i in range(len(shape))]
        expected = (x - mean[tuple(expand)]) / np.sqrt(biased[tuple(expand)] + 1e-5)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * biased * n / (n - 1)
        np.testing.assert_allclose(bn.running_mean.data, running_mean, rtol=1e-5)
        np.testing.assert_allclose(bn.running_var.data, running_var, rtol=1e-5)
        assert int(bn.num_batches_tracked.data) == step + 1
    bn.eval()
    x = rng.normal(5.0, 3.0, size=shape)
    expand = [slice(None) if i == 1 else None for i in range(len(shape))]
    expected = (x - running_mean[tuple(expand)]) / np.sqrt(running_var[tuple(expand)] + 1e-5)
    np.testing.assert_allclose(bn(as_tensor(x)).data, expected, rtol=1e-4, atol=1e-4)
    assert int(bn.num_batches_tracked.data) == 3  # eval does not count batches


def test_momentum_none_is_a_cumulative_average(kernel_set, rng):
    bn = nn.BatchNorm1d(3, momentum=None)
    batches = [rng.normal(2.0, 1.5, size=(10, 3)) for _ in range(4)]
    for x in batches:
        bn(as_tensor(x))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data,
                               np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-5)


def test_no_running_stats_uses_batch_statistics_in_both_modes(kernel_set, rng):
    bn = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert bn.running_mean is None and "running_mean" not in bn.state_dict()
    x = as_tensor(rng.normal(1.0, 2.0, size=(6, 3)))
    train_out = bn(x).data
    bn.eval()
    np.testing.assert_allclose(bn(x).data, train_out)
    np.testing.assert_allclose(train_out.mean(0), 0, atol=1e-5)


def test_affine_parameters_scale_and_shift(kernel_set, rng):
    bn = nn.BatchNorm2d(2)
    bn.weight.data[:] = [2.0, 3.0]
    bn.bias.data[:] = [-1.0, 1.0]
    y = bn(as_tensor(rng.standard_normal((4, 2, 3, 3)))).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [-1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [2.0, 3.0], rtol=1e-3)


def test_one_value_per_channel_is_an_error_in_training_only():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 4\)"):
        bn(minidl.tensor(np.ones((1, 4), np.float32)))
    bn.eval()
    assert bn(minidl.tensor(np.ones((1, 4), np.float32))).shape == (1, 4)


def test_reset_running_stats():
    bn = nn.BatchNorm1d(2)
    bn(minidl.tensor(np.arange(8, dtype=np.float32).reshape(4, 2)))
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean.data, 0)
    np.testing.assert_array_equal(bn.running_var.data, 1)
    assert int(bn.num_batches_tracked.data) == 0


def test_nan_propagates_to_the_channel(kernel_set):
    x = np.ones((4, 3), np.float32)
    x[:, 1] = [1, 2, 3, 4]
    x[0, 1] = np.nan
    y = nn.BatchNorm1d(3)(minidl.tensor(x)).data
    assert np.isnan(y[:, 1]).all()
    assert np.isfinite(y[:, [0, 2]]).all()
