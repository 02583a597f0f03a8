"""Keep freed memory in the process, so that a training step does not page-fault its arrays in.

A training step allocates its activations and gradients afresh and frees them at the end.
With glibc's defaults, blocks above a (moving) threshold are mmap'ed and unmapped, and free
memory at the top of the heap is handed back to the OS, so the next step's arrays are new
pages that fault in one by one on first touch. Measured on a 2-core machine, one training step:

    case (batch 64)                          glibc defaults     memory kept
    small CNN, conv-BN-ReLU-pool x2 + linear    20-23 ms            11 ms     (175K -> 30K faults)
    ResNet basic blocks 16-16-32, 3x32x32      124-130 ms          72-93 ms   (0.5M -> 40K faults)

with the same peak RSS in both cases (the memory is reused, not added). The price is memory
held after use: `minidl train` (a small CNN on MNIST, then evaluation) peaked at 340 MB instead
of 310 MB, at the same speed. PyTorch's CPU ops use the same glibc malloc and gain as much.
So `import minidl` sets two glibc knobs, once, for the whole process:

- M_MMAP_THRESHOLD = 32 MiB: blocks up to 32 MiB (glibc's maximum) come from the heap and are
  reused; larger ones are still mmap'ed.
- M_TRIM_THRESHOLD = 1 GiB: up to that much free memory at the top of the heap stays mapped.

It is left alone where the user chose: MINIDL_KEEP_FREED_MEMORY=0 switches it off, and glibc's
own settings (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES with
glibc.malloc.mmap_threshold or trim_threshold) win. Other C libraries (macOS, musl) are not
touched.

This module imports nothing but the standard library: benchmarks/_env.py runs it on its own
in PyTorch-only processes, so that both frameworks are timed under the same allocator.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

SWITCH = "MINIDL_KEEP_FREED_MEMORY"

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_GLIBC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_GLIBC_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")

_state = {"setting": "not applied yet"}


def keep_freed_memory(environ=os.environ) -> str:
    """Apply the setting described in the module docstring unless the environment says not
    to; return (and remember, for `allocator_setting`) a one-line description of the outcome.

    Raises ValueError if MINIDL_KEEP_FREED_MEMORY is set to something other than 0, 1 or
    nothing.
    """
    switch = environ.get(SWITCH, "").strip() or "1"  # unset or empty: the default
    if switch not in ("0", "1"):
        raise ValueError(f"{SWITCH}: expected 0 (leave glibc's defaults) or 1 (keep freed "
                         f"memory, the default), got {switch!r}")
    _state["setting"] = _apply(switch == "1", environ)
    return _state["setting"]


def allocator_setting() -> str:
    """What `keep_freed_memory` did in this process, in one line (for minidl.show_config)."""
    return _state["setting"]


def _apply(wanted: bool, environ) -> str:
    if not wanted:
        return f"glibc defaults ({SWITCH}=0)"
    chosen = [name for name in _GLIBC_ENVIRONMENT if environ.get(name)]
    chosen += [name for name in _GLIBC_TUNABLES if name in environ.get("GLIBC_TUNABLES", "")]
    if chosen:
        return f"left to the environment ({', '.join(chosen)})"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return f"not changed ({platform.system()} C library, not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        applied = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                   and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    except (OSError, AttributeError, TypeError):
        applied = False
    if not applied:
        return "not changed (glibc's mallopt refused the setting)"
    return (f"freed memory kept: M_MMAP_THRESHOLD={MMAP_THRESHOLD}, "
            f"M_TRIM_THRESHOLD={TRIM_THRESHOLD} ({SWITCH}=0 leaves glibc's defaults)")
