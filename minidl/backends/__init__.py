"""minidl.backends, as torch.backends: which accelerator libraries exist. minidl runs on the
CPU only, so none is available (`mps.is_available()` and `cudnn.is_available()` are False).

(Not to be confused with minidl.backend, the switch between minidl's NumPy and Numba kernels.)
"""
from . import cudnn, mps  # noqa: F401
