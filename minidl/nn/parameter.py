"""Parameter: a Tensor that a Module registers as trainable (requires_grad=True by default)."""
from __future__ import annotations

from ..tensor import Tensor, _as_array


class Parameter(Tensor):
    """A learnable tensor: assigning one to a Module attribute registers it in parameters()."""

    def __init__(self, data, requires_grad: bool = True):
        array = _as_array(data, "Parameter")
        if array.dtype.kind != "f":
            raise TypeError(f"Parameter: expected floating point data, got dtype {array.dtype}")
        super().__init__(array, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
