"""minidl.utils: PyTorch's `torch.utils` names (`minidl.utils.data`)."""
from . import data

__all__ = ["data"]
