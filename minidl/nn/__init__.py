"""minidl.nn: Module, Parameter, layers, losses, init and functional (as F)."""
from . import functional, init, utils
from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList",
           "Identity", "Flatten", "Linear", "Conv2d",
           "BatchNorm1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "Dropout", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "CrossEntropyLoss",
           "MSELoss", "functional", "init", "utils"]
