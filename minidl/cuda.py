"""minidl.cuda, as torch.cuda answers on a machine without a GPU: minidl runs on the CPU only.

`is_available()` is False and `device_count()` is 0, so code that picks its device with
`"cuda" if torch.cuda.is_available() else "cpu"` runs on the CPU unchanged. Seeding the GPU
(`manual_seed`, `manual_seed_all`) is accepted and does nothing, as in PyTorch without CUDA.
"""
from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No GPU generator to seed (PyTorch ignores this call without CUDA too)."""


def manual_seed_all(seed: int) -> None:
    """No GPU generator to seed (PyTorch ignores this call without CUDA too)."""
