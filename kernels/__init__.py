"""minidl.kernels: pure array functions, each as a NumPy reference and a Numba kernel.

Nothing here knows about Tensors, Modules or training mode. Every op family has one file; in
it, `<op>_reference` (plain NumPy, the math as written in the paper or course notes) sits
beside `<op>_numba` (the fast form), with the same signature and the same results. Each file
ends with a `KERNELS` table, `{op name: (reference, numba)}`, which `minidl.use_kernels`
switches between.
"""
from __future__ import annotations

from . import _config  # noqa: F401  (sets the cache directory and thread policy first)
from . import activations, batchnorm, conv, dropout, linear, losses, optimizers, pooling

BACKENDS = ("numpy", "numba")

REGISTRY: dict[str, dict[str, object]] = {}
for _module in (activations, batchnorm, conv, dropout, linear, losses, optimizers, pooling):
    for _name, (_reference, _fast) in _module.KERNELS.items():
        if _name in REGISTRY:
            raise RuntimeError(f"kernel {_name!r} is defined twice")
        REGISTRY[_name] = {"numpy": _reference, "numba": _fast}


def lookup(name: str, backend: str):
    """Return the implementation of kernel `name` for `backend` ('numpy' or 'numba')."""
    return REGISTRY[name][backend]
