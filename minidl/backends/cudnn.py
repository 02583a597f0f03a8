"""minidl.backends.cudnn, as torch.backends.cudnn on a machine without CUDA: not available.

The flags reproducibility recipes set (`deterministic = True`, `benchmark = False`) can be set
and have nothing to act on: minidl runs on the CPU only, and cuDNN is a GPU library.
"""

deterministic = False
benchmark = False
enabled = True  # PyTorch's default; no cuDNN call is ever made either way


def is_available() -> bool:
    return False
