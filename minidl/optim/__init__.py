"""minidl.optim: optimizers with PyTorch's update rules, and learning-rate schedules."""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "Adam", "AdamW", "lr_scheduler"]
