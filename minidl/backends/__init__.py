"""minidl.backends, as torch.backends: which accelerators exist. minidl runs on the CPU only.

(Not to be confused with minidl.backend, the switch between minidl's NumPy and Numba kernels.)
"""
from . import mps  # noqa: F401
