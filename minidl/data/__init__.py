"""minidl.data: reading data sets."""
from .idx import read_idx

__all__ = ["read_idx"]
