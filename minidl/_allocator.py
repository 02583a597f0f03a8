"""Keep freed memory in the process, so that a training step does not page-fault its arrays in.

A training step allocates its activations and gradients afresh and frees them at the end.
With glibc's defaults, blocks above a (moving) threshold are mmap'ed and unmapped, and free
memory at the top of the heap is handed back to the OS, so the next step's arrays are new
pages that fault in one by one on first touch. Measured on a 2-core machine, one training step:

    case (batch 64)                          glibc defaults     memory kept
    small CNN, conv-BN-ReLU-pool x2 + linear    20-23 ms          9-11 ms    (175K -> 30K faults)
    ResNet basic blocks 16-16-32, 3x32x32      115-130 ms         72-93 ms   (0.5M -> 40K faults)

The peak RSS of those step loops did not change (the memory is reused, not added), but memory
stays held after use: `minidl train` (a small CNN on MNIST, then evaluation) peaked at 340 MB
instead of 310 MB, at the same speed. PyTorch's CPU ops use the same glibc malloc and gain as
much. So `import minidl` sets two glibc knobs, once, for the whole process (64-bit Linux with
glibc; other C libraries, such as macOS's or musl, are not touched):

- M_MMAP_THRESHOLD = 32 MiB: blocks up to 32 MiB (glibc's maximum on 64-bit) come from the heap
  and are reused; larger ones are still mmap'ed.
- M_TRIM_THRESHOLD = 1 GiB: up to that much free memory at the top of the heap stays mapped.

It is left alone where the user chose: MINIDL_KEEP_FREED_MEMORY=0 switches it off, and a
process started with glibc's own threshold settings (MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_, or GLIBC_TUNABLES with glibc.malloc.mmap_threshold or
glibc.malloc.trim_threshold) keeps them: setting either one leaves both knobs to glibc. Where
malloc itself is replaced (jemalloc or tcmalloc through LD_PRELOAD), nothing is changed.

This module imports nothing but the standard library: benchmarks/_env.py runs it on its own
in PyTorch-only processes, so that both frameworks are timed under the same allocator.
"""
from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

SWITCH = "MINIDL_KEEP_FREED_MEMORY"

# glibc's mallopt parameter numbers (malloc.h)
_KNOBS = {"M_MMAP_THRESHOLD": (-3, MMAP_THRESHOLD), "M_TRIM_THRESHOLD": (-1, TRIM_THRESHOLD)}

_GLIBC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_GLIBC_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")

_state = {"setting": "not applied yet"}


def keep_freed_memory(environ=None) -> str:
    """Apply the setting described in the module docstring unless the environment says not
    to; return (and remember, for `allocator_setting`) a one-line description of the outcome.

    Called once, by `import minidl`: mallopt cannot be undone, so a later call that finds
    MINIDL_KEEP_FREED_MEMORY=0 only changes the description.
    environ: the variables to read (tests pass a dict). By default MINIDL_KEEP_FREED_MEMORY is
    read from os.environ and glibc's variables from the environment the process started with,
    which is the one glibc read (setting them in os.environ later changes nothing in glibc).
    Raises ValueError if MINIDL_KEEP_FREED_MEMORY is set to something other than 0, 1 or
    nothing.
    """
    switch = (os.environ if environ is None else environ).get(SWITCH, "").strip() or "1"
    if switch not in ("0", "1"):
        raise ValueError(f"{SWITCH}: expected 0 (leave the C library's defaults) or 1 (keep "
                         f"freed memory, the default), got {switch!r}")
    if switch == "0":
        _state["setting"] = f"left to the C library ({SWITCH}=0)"
    else:
        chosen = user_choice(_startup_environment() if environ is None else environ)
        _state["setting"] = (f"left to the environment ({', '.join(chosen)})" if chosen
                             else _apply())
    return _state["setting"]


def allocator_setting() -> str:
    """What `keep_freed_memory` did in this process, in one line (for minidl.show_config)."""
    return _state["setting"]


def user_choice(environ) -> list[str]:
    """The glibc malloc threshold settings present in `environ` (empty if none)."""
    chosen = [name for name in _GLIBC_ENVIRONMENT if environ.get(name)]
    return chosen + [name for name in _GLIBC_TUNABLES if name in environ.get("GLIBC_TUNABLES", "")]


def _startup_environment() -> dict:
    """The environment this process started with (Linux), else os.environ."""
    try:
        with open("/proc/self/environ", "rb") as file:
            entries = file.read().split(b"\0")
    except OSError:
        return dict(os.environ)
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if entry)
    return {name: value for name, _, value in pairs}


def _apply() -> str:
    library = platform.libc_ver()[0]
    if platform.system() != "Linux" or library != "glibc":
        return f"not changed (the C library is {library or 'unknown'}, not glibc)"
    try:
        libc = ctypes.CDLL("libc.so.6")
        if _address(ctypes.CDLL(None).malloc) != _address(libc.malloc):
            return "not changed (malloc is not glibc's: replaced, e.g. through LD_PRELOAD)"
        applied = {name: value for name, (parameter, value) in _KNOBS.items()
                   if libc.mallopt(parameter, value) == 1}
    except (OSError, AttributeError):
        return "not changed (glibc's mallopt could not be called)"
    refused = sorted(set(_KNOBS) - set(applied))
    if not applied:
        return "not changed (glibc's mallopt refused the setting)"
    text = ", ".join(f"{name}={value}" for name, value in applied.items())
    text = f"freed memory kept: {text}"
    if refused:
        text += f" ({', '.join(refused)} refused by glibc)"
    return f"{text}; {SWITCH}=0 leaves glibc's defaults"


def _address(function) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value
