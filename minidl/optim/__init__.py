"""minidl.optim: optimizers with PyTorch's update rules."""
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
