"""Stateless layer functions (`minidl.nn.functional`, imported as F), one graph node each."""
from .activations import elu, leaky_relu, relu, sigmoid, tanh
from .batchnorm import batch_norm, batch_norm_relu
from .conv import conv2d
from .dropout import dropout
from .linear import linear
from .losses import cross_entropy, log_softmax, mse_loss, softmax
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = ["linear", "conv2d", "batch_norm", "batch_norm_relu", "relu", "leaky_relu", "elu",
           "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse_loss",
           "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout"]
