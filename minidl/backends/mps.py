"""minidl.backends.mps: Apple's GPU backend, absent (minidl runs on the CPU only)."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
