"""minidl.nn: Module, Parameter, layers, losses, init and functional (as F)."""
from . import functional, init
from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import Sequential
from .linear import Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "Identity", "Flatten", "Linear", "BatchNorm1d",
           "BatchNorm2d", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "CrossEntropyLoss",
           "MSELoss", "functional", "init"]
