"""Stateless layer functions (`minidl.nn.functional`, imported as F), one graph node each."""
from .activations import elu, leaky_relu, relu, sigmoid, tanh
from .batchnorm import batch_norm, batch_norm_relu
from .linear import linear
from .losses import cross_entropy, log_softmax, mse_loss, softmax

__all__ = ["linear", "batch_norm", "batch_norm_relu", "relu", "leaky_relu", "elu", "sigmoid",
           "tanh", "softmax", "log_softmax", "cross_entropy", "mse_loss"]
