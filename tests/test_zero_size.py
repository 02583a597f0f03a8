"""Zero-size inputs (issue 11, item 13): empty results and gradients as PyTorch gives them, or
a clear error where PyTorch refuses; never an internal NumPy error, and empty work never
reaches a Numba kernel that cannot take it.

The reference is PyTorch 2.13.0 (CPU), checked by hand in a separate virtualenv (torch is not
a dependency); what it did is written beside each case. Each test runs under both kernel sets
(the `kernel_set` fixture): the Numba kernels and the NumPy references.
"""
import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.data import transforms


def leaf(*shape, dtype=np.float32):
    values = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return minidl.tensor(values, requires_grad=True)


def backward_ones(output):
    output.backward(np.ones(output.shape, output.dtype))


# ----- linear -------------------------------------------------------------------------------

def test_linear_empty_batch(kernel_set):
    # torch: output (0, 3), grad_input (0, 5), grad_weight and grad_bias zeros
    layer = nn.Linear(5, 3)
    x = leaf(0, 5)
    y = layer(x)
    backward_ones(y)
    assert y.shape == (0, 3) and x.grad.shape == (0, 5)
    np.testing.assert_array_equal(layer.weight.grad.data, np.zeros((3, 5), np.float32))
    np.testing.assert_array_equal(layer.bias.grad.data, np.zeros(3, np.float32))


def test_linear_zero_input_features_gives_the_bias(kernel_set):
    # torch: F.linear((4, 0), (3, 0), b) is b on every row (an empty sum is 0); grad_bias = 4
    x, weight, bias = leaf(4, 0), leaf(3, 0), leaf(3)
    y = F.linear(x, weight, bias)
    backward_ones(y)
    np.testing.assert_array_equal(y.data, np.broadcast_to(bias.data, (4, 3)))
    assert x.grad.shape == (4, 0) and weight.grad.shape == (3, 0)
    np.testing.assert_array_equal(bias.grad.data, np.full(3, 4, np.float32))


def test_linear_zero_output_features(kernel_set):
    # torch: output (4, 0), grad_input zeros (4, 5), grad_weight (0, 5)
    x, weight = leaf(4, 5), leaf(0, 5)
    y = F.linear(x, weight)
    backward_ones(y)
    assert y.shape == (4, 0) and weight.grad.shape == (0, 5)
    np.testing.assert_array_equal(x.grad.data, np.zeros((4, 5), np.float32))


def test_linear_with_leading_dimensions_and_no_rows(kernel_set):
    x, weight = leaf(2, 0, 5), leaf(3, 5)
    y = F.linear(x, weight)
    backward_ones(y)
    assert y.shape == (2, 0, 3) and x.grad.shape == (2, 0, 5)


# ----- conv2d -------------------------------------------------------------------------------

def test_conv2d_empty_batch(kernel_set):
    # torch: output (0, 4, 6, 6), grad_input (0, 3, 8, 8), grad_weight and grad_bias zeros
    conv = nn.Conv2d(3, 4, 3)
    x = leaf(0, 3, 8, 8)
    y = conv(x)
    backward_ones(y)
    assert y.shape == (0, 4, 6, 6) and x.grad.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(conv.weight.grad.data, np.zeros((4, 3, 3, 3), np.float32))
    np.testing.assert_array_equal(conv.bias.grad.data, np.zeros(4, np.float32))


def test_conv2d_empty_batch_of_huge_images_allocates_nothing(kernel_set):
    # The Numba kernel allocated its per-image scratch (here 3 x 40000 x 40000 float32 =
    # 19 GB, a MemoryError) before looking at the batch size; an empty batch no longer
    # reaches it. np.empty of an empty shape allocates nothing.
    x = minidl.Tensor(np.empty((0, 3, 40000, 40000), np.float32))
    x.requires_grad = True
    conv = nn.Conv2d(3, 2, 3)
    y = conv(x)
    backward_ones(y)
    assert y.shape == (0, 2, 39998, 39998) and x.grad.shape == x.shape


@pytest.mark.parametrize("weight_shape", [(4, 3, 0, 3), (4, 3, 3, 0), (0, 3, 3, 3),
                                          (4, 0, 3, 3)])
def test_conv2d_weight_with_an_empty_side_is_refused(weight_shape):
    # torch refuses a 0 kernel side and 0 output channels (RuntimeError); for 0 input channels
    # it returns an output with 0 channels, against its own shape rule. minidl accepted a
    # kernel of height 0 and returned an output taller than its input (9 rows from 8).
    x = leaf(2, weight_shape[1] or 3, 8, 8)
    with pytest.raises(ValueError, match=r"conv2d: expected weight of shape .* every size at "
                                         r"least 1, got " + str(weight_shape).replace("(", r"\(")
                                         .replace(")", r"\)")):
        F.conv2d(x, leaf(*weight_shape))


@pytest.mark.parametrize("shape, padding", [((2, 3, 0, 8), 0), ((2, 3, 0, 8), 1),
                                            ((2, 3, 8, 0), 1)])
def test_conv2d_empty_image_is_refused(shape, padding):
    # torch: "Only zero batch or zero channel inputs are supported" (with padding), "Kernel size
    # can't be greater than actual input size" (without)
    with pytest.raises(ValueError, match=r"conv2d: expected input with a height and width of "
                                         r"at least 1"):
        F.conv2d(leaf(*shape), leaf(4, 3, 1, 1), padding=padding)


@pytest.mark.parametrize("argument, value", [("stride", 0), ("stride", -1), ("padding", -1),
                                             ("dilation", 0), ("dilation", -2), ("groups", 0)])
def test_conv2d_non_positive_geometry_is_refused(argument, value):
    # torch: "non-positive stride is not supported", "negative padding is not supported",
    # "dilation should be greater than zero", "non-positive groups is not supported"
    with pytest.raises(ValueError, match=f"conv2d: expected {argument}"):
        F.conv2d(leaf(1, 1, 4, 4), leaf(1, 1, 2, 2), **{argument: value})


@pytest.mark.parametrize("kwargs", [dict(kernel_size=0), dict(kernel_size=(3, 0)),
                                    dict(kernel_size=3, stride=0), dict(kernel_size=3, padding=-1),
                                    dict(kernel_size=3, dilation=0)])
def test_conv2d_layer_non_positive_geometry_is_refused(kwargs):
    with pytest.raises(ValueError, match="Conv2d: expected"):
        nn.Conv2d(3, 4, **kwargs)


# ----- pooling ------------------------------------------------------------------------------

POOLS = {
    "max": lambda x: F.max_pool2d(x, 2),
    "avg": lambda x: F.avg_pool2d(x, 2),
    "adaptive": lambda x: F.adaptive_avg_pool2d(x, 1),
}


@pytest.mark.parametrize("pool", POOLS)
def test_pooling_empty_batch_forward_and_backward(kernel_set, pool):
    # torch: (0, 3, 4, 4) (adaptive: (0, 3, 1, 1)), grad_input (0, 3, 8, 8); minidl's max
    # pooling backward failed inside NumPy (reshape of an empty array with -1)
    x = leaf(0, 3, 8, 8)
    y = POOLS[pool](x)
    backward_ones(y)
    assert y.shape == ((0, 3, 1, 1) if pool == "adaptive" else (0, 3, 4, 4))
    assert x.grad.shape == (0, 3, 8, 8)


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("shape", [(2, 0, 8, 8), (2, 3, 0, 8), (2, 3, 8, 0)])
def test_pooling_empty_channels_or_planes_are_refused(pool, shape):
    # torch: "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size" (max, avg)
    # and "Expected input to have non-zero size for non-batch dimensions" (adaptive, except its
    # global-average shortcut, which returns NaN for an empty plane)
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\) with C, H and W at "
                                         r"least 1"):
        POOLS[pool](leaf(*shape))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=0), dict(kernel_size=2, stride=0),
                                    dict(kernel_size=2, padding=-1)])
def test_pooling_non_positive_window_is_refused(kwargs):
    # torch: "stride should not be zero", "pad must be non-negative"
    for function, layer in ((F.max_pool2d, nn.MaxPool2d), (F.avg_pool2d, nn.AvgPool2d)):
        with pytest.raises(ValueError, match="expected"):
            function(leaf(1, 1, 4, 4), **kwargs)
        with pytest.raises(ValueError, match="expected"):
            layer(**kwargs)


# ----- batch norm ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [(nn.BatchNorm1d, (0, 3)), (nn.BatchNorm1d, (0, 3, 5)),
                                          (nn.BatchNorm2d, (0, 3, 4, 4)),
                                          (nn.BatchNorm2d, (2, 3, 0, 4))])
@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_empty_input(kernel_set, layer, shape, training):
    # torch, both modes: an empty output, grad_weight and grad_bias zeros, the running
    # statistics unchanged (set to 2 and 3 first), num_batches_tracked counted in training.
    # (Only exactly one value per channel is an error in training: "Expected more than 1 value
    # per channel when training"; none is not.) minidl failed inside NumPy in eval mode and
    # refused an empty batch in training.
    bn = layer(3).train(training)
    bn.running_mean.data[...] = 2
    bn.running_var.data[...] = 3
    x = leaf(*shape)
    y = bn(x)
    backward_ones(y)
    assert y.shape == shape and x.grad.shape == shape
    np.testing.assert_array_equal(bn.weight.grad.data, np.zeros(3, np.float32))
    np.testing.assert_array_equal(bn.bias.grad.data, np.zeros(3, np.float32))
    np.testing.assert_array_equal(bn.running_mean.data, np.full(3, 2, np.float32))
    np.testing.assert_array_equal(bn.running_var.data, np.full(3, 3, np.float32))
    assert int(bn.num_batches_tracked.data) == (1 if training else 0)


def test_batch_norm_cumulative_average_after_an_empty_batch(kernel_set):
    # momentum=None: an empty batch counts (as in torch) but adds nothing (no NaN)
    bn = nn.BatchNorm1d(2, momentum=None)
    bn(leaf(0, 2))
    assert int(bn.num_batches_tracked.data) == 1
    np.testing.assert_array_equal(bn.running_mean.data, np.zeros(2, np.float32))


def test_batch_norm_relu_and_functional_on_empty_input(kernel_set):
    x = leaf(0, 3, 2, 2)
    weight, bias = leaf(3), leaf(3)
    y = F.batch_norm_relu(x, None, None, weight, bias, training=True)
    backward_ones(y)
    assert y.shape == x.shape and x.grad.shape == x.shape
    np.testing.assert_array_equal(weight.grad.data, np.zeros(3, np.float32))
    # zero channels: torch gives the empty output too
    assert F.batch_norm(leaf(4, 0), None, None, training=True).shape == (4, 0)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_norm_one_value_per_channel_is_still_an_error_in_training(shape):
    # torch: "Expected more than 1 value per channel when training, got input size [1, 3]"
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        F.batch_norm(leaf(*shape), None, None, training=True)
    layer = nn.BatchNorm1d(3) if len(shape) == 2 else nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        layer(leaf(*shape))


# ----- activations, softmax, dropout --------------------------------------------------------

@pytest.mark.parametrize("function", [F.relu, F.sigmoid, F.tanh, F.elu, F.leaky_relu,
                                      lambda x: F.dropout(x, 0.5), lambda x: F.dropout(x, 1.0)])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,)])
def test_elementwise_on_empty_input(kernel_set, function, shape):
    # torch: empty output and gradient of the input's shape
    x = leaf(*shape)
    y = function(x)
    backward_ones(y)
    assert y.shape == shape and x.grad.shape == shape


@pytest.mark.parametrize("function", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("shape, dim", [((4, 0), 1), ((0, 4), 1), ((4, 0), 0), ((2, 0, 3), 1),
                                        ((2, 0, 3), 2), ((0,), 0)])
def test_softmax_over_or_along_an_empty_dimension(kernel_set, function, shape, dim):
    # torch: empty output and gradient; minidl failed inside NumPy for a 0-length dim
    x = leaf(*shape)
    y = function(x, dim)
    backward_ones(y)
    assert y.shape == shape and x.grad.shape == shape


# ----- losses -------------------------------------------------------------------------------

@pytest.mark.parametrize("classes", [4, 0])
def test_cross_entropy_empty_batch(kernel_set, classes):
    # torch (also for 0 classes): mean nan, sum 0, none an empty (0,); grad_input (0, C)
    target = np.zeros(0, np.int64)
    for reduction, expected in (("mean", np.nan), ("sum", 0.0)):
        x = leaf(0, classes)
        loss = F.cross_entropy(x, target, reduction=reduction)
        loss.backward()
        np.testing.assert_equal(loss.item(), expected)
        assert loss.dtype == np.float32 and x.grad.shape == (0, classes)
    x = leaf(0, classes)
    losses = F.cross_entropy(x, target, reduction="none")
    backward_ones(losses)
    assert losses.shape == (0,) and x.grad.shape == (0, classes)


def test_cross_entropy_with_no_classes_is_refused():
    # torch: IndexError "Target 0 is out of bounds"; minidl said "values in [0, -1]"
    with pytest.raises(ValueError, match="cross_entropy: expected logits for at least one "
                                         "class, got input of shape \\(3, 0\\)"):
        F.cross_entropy(leaf(3, 0), np.zeros(3, np.int64))


def test_mse_loss_empty(kernel_set):
    # torch: mean nan, sum 0, none (0, 4); grad_input (0, 4)
    for reduction, expected in (("mean", np.nan), ("sum", 0.0)):
        x = leaf(0, 4)
        loss = F.mse_loss(x, minidl.tensor(np.zeros((0, 4), np.float32)), reduction=reduction)
        loss.backward()
        np.testing.assert_equal(loss.item(), expected)
        assert x.grad.shape == (0, 4)


def test_empty_batch_losses_warn_nothing(kernel_set):
    # the mean of nothing is NaN on purpose: no "invalid value" or "divide by zero" warning
    with np.errstate(all="raise"):
        x = leaf(0, 4)
        F.cross_entropy(x, np.zeros(0, np.int64)).backward()
        F.mse_loss(x, minidl.tensor(np.zeros((0, 4), np.float32))).backward()


# ----- flatten ------------------------------------------------------------------------------

def test_flatten_layer_on_empty_input(kernel_set):
    # torch: nn.Flatten()((0, 3, 4)) is (0, 12); ((2, 0, 4)) is (2, 0)
    x = leaf(0, 3, 4)
    y = nn.Flatten()(x)
    backward_ones(y)
    assert y.shape == (0, 12) and x.grad.shape == (0, 3, 4)
    assert nn.Flatten()(leaf(2, 0, 4)).shape == (2, 0)


def test_flatten_transform_on_an_empty_batch():
    # failed inside NumPy: "cannot reshape array of size 0 into shape (0,newaxis)"
    assert transforms.Flatten()(np.zeros((0, 1, 28, 28), np.float32)).shape == (0, 784)
    assert transforms.Flatten()(np.zeros((1, 0, 28), np.float32)).shape == (0,)


@pytest.mark.parametrize("transform", [transforms.RandomCrop(4, padding=1),
                                       transforms.RandomHorizontalFlip(),
                                       transforms.Normalize((0.5,), (0.2,))])
def test_other_transforms_on_an_empty_batch(transform):
    assert transform(np.zeros((0, 1, 4, 4), np.float32)).shape == (0, 1, 4, 4)


# ----- whole models -------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("mlp_bn", (0, 784)), ("cnn_bn", (0, 1, 28, 28))])
def test_models_train_step_on_an_empty_batch(kernel_set, name, shape):
    model = getattr(minidl.models, name)()
    loss = F.cross_entropy(model(leaf(*shape)), np.zeros(0, np.int64), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0
    for parameter in model.parameters():
        np.testing.assert_array_equal(parameter.grad.data, np.zeros_like(parameter.data))
