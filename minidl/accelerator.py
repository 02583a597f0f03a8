"""minidl.accelerator, as torch.accelerator without an accelerator: minidl runs on the CPU only.

The device idiom of PyTorch's current tutorials picks the CPU unchanged:

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() \\
        else "cpu"
"""
from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator (PyTorch returns None in that case too)."""
    return None
