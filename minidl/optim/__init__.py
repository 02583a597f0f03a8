"""minidl.optim: optimizers with PyTorch's update rules."""
from .optimizer import Optimizer
from . import lr_scheduler
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "lr_scheduler"]
